"""Refinement of a crystal's charge, κ, U_iso and thickness from a (000) LACBED disc (issue: refine)."""

#: Role names a κ or U_iso parameter may name instead of a site label (``kappa:cation``: one κ
#: shared by every cation site).
ROLE_NAMES = ("cation", "anion", "neutral")

#: the detector optics a fit can free (refine/optics.py): centre offset [px], rotation [°], k-scale,
#: Gaussian blur [px] — here, light to import, for the command line's parser
OPTICS_PARAMETERS = ("centre_x", "centre_y", "rotation", "k_scale", "blur")
