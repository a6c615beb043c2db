"""Test crystals built directly from the data model (imported by the edd tests)."""

from __future__ import annotations

from lacbed_bridge.crystal.model import Crystal, Site

A_GAAS = 5.6533  # [Å]


def make_gaas(delta: float = 0.0, a: float = A_GAAS, u_iso: float = 0.0063, ga_only: bool = False) -> Crystal:
    """Zincblende GaAs (F-43m; Ga 4a, As 4c) with δ electrons moved Ga -> As (or only removed from Ga)."""
    return Crystal(
        name="F-43m_zincblende_000001",
        cell=(a, a, a, 90.0, 90.0, 90.0),
        spacegroup="F -4 3 m",
        sites=(
            Site("Ga1", "Ga", (0.0, 0.0, 0.0), 1.0, u_iso, 3.0 - delta, 1.0),
            Site("As1", "As", (0.25, 0.25, 0.25), 1.0, u_iso, 5.0 + (0.0 if ga_only else delta), 1.0),
        ),
        formula="Ga As",
    )

