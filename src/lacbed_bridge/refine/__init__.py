"""Refinement of a crystal's charge, κ, U_iso and thickness from a (000) LACBED disc (issue: refine)."""
