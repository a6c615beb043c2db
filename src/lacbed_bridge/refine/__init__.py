"""Refinement of a crystal's charge, κ, U_iso and thickness from a (000) LACBED disc (issue: refine)."""

#: Role names a κ or U_iso parameter may name instead of a site label (``kappa:cation``: one κ
#: shared by every cation site).
ROLE_NAMES = ("cation", "anion", "neutral")
