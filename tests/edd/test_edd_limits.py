"""The projected density of a huge cell: bounded memory, or refused in one line naming the key
(issue #25 item 6: 312–1000 Å cells gave a MemoryError traceback)."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from lacbed_bridge.crystal.model import Crystal, Site
from lacbed_bridge.edd.projection import projection_info_and_image
from lacbed_bridge.errors import InputError


def _cubic(a: float, xyz: tuple[float, float, float]) -> Crystal:
    return Crystal("huge", (a, a, a, 90.0, 90.0, 90.0), "F m -3 m",
                   (Site("Na1", "Na", xyz, 1.0, 0.005), Site("Cl1", "Cl", (0.5, 0.5, 0.5), 1.0, 0.005)))


def test_a_1000_angstrom_cell_is_refused_at_once() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError, match="edd.s_max") as err:
        projection_info_and_image(_cubic(1000.0, (0.0, 0.0, 0.0)), side=32, beam_direction=[0, 0, 1], x_direction=[1, 0, 0])
    assert "limit" in str(err.value) and "candidate reflections" in str(err.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # kB


@pytest.mark.slow
def test_a_312_angstrom_cell_with_a_192_fold_site_projects_in_bounded_memory() -> None:
    """The unblocked phase sum wanted 7.6 million reflections × 192 atoms × 16 B (≈ 23 GB, a MemoryError);
    in blocks of 2²² terms the whole projection grew by 3.9 GB in CI (the reflection arrays themselves)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    image, info = projection_info_and_image(_cubic(312.0, (0.11, 0.23, 0.37)), side=32, beam_direction=[0, 0, 1],
                                            x_direction=[1, 0, 0])
    assert np.isfinite(image).all() and image.shape == (32, 32)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 6_000_000  # kB: under 6 GB grown


def test_the_simulators_structure_factors_refuse_a_sum_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same guard on the simulator's side: reflections × atoms counted before any sum (the
    limit lowered here so that a small crystal reaches it)."""
    from lacbed_bridge.simulate import potential
    from lacbed_bridge.simulate.settings import PotentialSettings

    monkeypatch.setattr(potential, "MAX_PHASE_TERMS", 1000)
    hkl = np.array([[h, k, 0] for h in range(-10, 11) for k in range(-10, 11)])
    with pytest.raises(InputError, match="past the limit"):
        potential.structure_factors(_cubic(5.6, (0.0, 0.0, 0.0)), PotentialSettings(200.0, 1, 5.0, 0.5), hkl, np.linalg.norm(hkl, axis=1) / 5.6)
