"""What an EDD image covers: projected cells in view, periodicity, electrons per projected cell."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lacbed_bridge.crystal.prototypes import load_prototypes
from lacbed_bridge.edd.projection import _frame, lattice_repeat, projected_density_at, projection_info_and_image

PROTOTYPES = load_prototypes()


def _crystal(key: str):
    return PROTOTYPES[key].crystal(u_iso={s.label: 0.008 for s in PROTOTYPES[key].sites})


def _electrons_per_cell(crystal) -> float:
    """Σ over the cell's atoms of Z (neutral prototypes)."""
    import gemmi

    return float(sum(gemmi.Element(crystal.sites[i].element).atomic_number for i, _ in crystal.unit_cell_atoms()))


@pytest.mark.parametrize(
    ("key", "beam", "x", "multiple", "cells"),
    [("rocksalt", (0, 0, 1), (1, 0, 0), 1, 1.0), ("rocksalt", (0, 0, 1), (1, 0, 0), 2, 4.0),
     ("rutile", (0, 0, 1), (1, 0, 0), 1, 1.0), ("perovskite", (0, 0, 1), (0, 1, 0), 3, 9.0)],
)
def test_periodic_views_hold_exactly_their_cells_electrons(key, beam, x, multiple, cells) -> None:
    crystal = _crystal(key)
    fov = multiple * crystal.cell[0]
    _, info = projection_info_and_image(crystal, side=24, beam_direction=beam, x_direction=x, field_of_view=fov)
    assert info.periodic
    assert info.cells_in_view == pytest.approx(cells, rel=1e-12)
    # F(000) is Σ f_x(0): the electrons per cell to the accuracy of the form-factor fits at s = 0
    assert info.f000 == pytest.approx(_electrons_per_cell(crystal), rel=2e-3)
    assert info.electrons_in_view == pytest.approx(cells * info.f000, rel=1e-9)


@pytest.mark.parametrize(("key", "beam", "x"), [("wurtzite", (0, 0, 1), (1, 0, 0)), ("corundum", (0, 0, 1), (1, 0, 0)),
                                                ("zincblende", (1, 1, 0), (1, -1, 0))])
def test_non_periodic_views_are_stated_and_each_projected_cell_keeps_its_electrons(key, beam, x) -> None:
    """A square of side a is not a period of a hexagonal projection (nor of cubic [110]): the image
    says so, and the density integrated over one projected cell (an oblique grid spanning two
    shortest in-plane lattice vectors) is still exactly F(000) electrons."""
    crystal = _crystal(key)
    fov = crystal.cell[0]
    image, info = projection_info_and_image(crystal, side=24, beam_direction=beam, x_direction=x, field_of_view=fov)
    assert not info.periodic
    # F(000) is Σ f_x(0): the electrons per cell to the accuracy of the form-factor fits at s = 0
    assert info.f000 == pytest.approx(_electrons_per_cell(crystal), rel=2e-3)
    if key != "zincblende":
        assert info.cells_in_view == pytest.approx(2 / math.sqrt(3), rel=1e-12)  # a² / (a²·√3/2)
    # the image holds the electrons of its area, which differ from cells × F(000) at the cut edges
    assert abs(info.electrons_in_view - info.cells_in_view * info.f000) > 1e-4 * info.f000

    # one projected cell: two in-plane lattice vectors whose parallelogram has area A
    uvw = np.array(beam)
    x_hat, y_hat, z_hat = _frame(crystal, uvw, np.array(x)).rotation  # rows: x̂, ŷ, ẑ in the crystal's Cartesian frame
    orth = np.array(crystal.gemmi_cell().orth.mat, dtype=float)
    t = orth @ lattice_repeat(crystal, uvw)
    candidates = []
    for ijk in np.array(np.meshgrid(*[np.arange(-2, 3)] * 3)).reshape(3, -1).T:
        v = orth @ ijk
        v = v - (v @ z_hat) / (t @ z_hat) * t  # project along the beam onto the image plane
        if np.linalg.norm(v) > 1e-9:
            candidates.append(np.array([v @ x_hat, v @ y_hat]))
    candidates.sort(key=np.linalg.norm)
    e1 = candidates[0]
    e2 = next(c for c in candidates if abs(e1[0] * c[1] - e1[1] * c[0]) > 1e-6)
    cell_area = abs(e1[0] * e2[1] - e1[1] * e2[0])
    if key != "zincblende":  # P and R lattices along c: the conventional cell projects onto area A
        assert cell_area == pytest.approx(info.projected_cell_area, rel=1e-9)
    n = 40  # more points per cell edge than the highest harmonic: the grid mean is exact
    i, j = np.meshgrid(np.arange(n) / n, np.arange(n) / n, indexing="ij")
    points = np.outer(i.ravel(), e1) + np.outer(j.ravel(), e2) + 0.123 * e1 + 0.377 * e2
    rho = projected_density_at(crystal, points, beam_direction=beam, x_direction=x, s_max=1.5)
    # electrons in the parallelogram = F(000) × its share of the projected cell A (1 for wurtzite)
    assert rho.mean() * cell_area == pytest.approx(info.f000 * cell_area / info.projected_cell_area, rel=1e-9)


def test_point_evaluator_matches_the_point_sampled_image() -> None:
    crystal = _crystal("wurtzite")
    side, fov = 16, 2.0 * crystal.cell[0]
    image, info = projection_info_and_image(crystal, side=side, beam_direction=(0, 0, 1), x_direction=(1, 0, 0),
                                            field_of_view=fov, pixel_value="point", s_max=2.0)
    centres = (np.arange(side) + 0.5 - side / 2) * info.pixel_size
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    rho = projected_density_at(crystal, np.stack([xx.ravel(), yy.ravel()], axis=1), beam_direction=(0, 0, 1),
                               x_direction=(1, 0, 0), s_max=2.0)
    assert np.allclose(rho.reshape(side, side), image, rtol=1e-9, atol=1e-9 * np.abs(image).max())


def test_figure_axis_note_says_what_the_view_covers() -> None:
    from lacbed_bridge.figures.common import coverage_note

    assert coverage_note({"edd_cells_in_view": 1.0, "edd_periodic": True}) == ""
    assert coverage_note({"edd_cells_in_view": 1.0, "edd_periodic": "True"}) == ""
    note = coverage_note({"edd_cells_in_view": 2 / math.sqrt(3), "edd_periodic": False})
    assert "1.15 projected cells" in note and "not a lattice period" in note
    assert coverage_note({}) == ""  # older manifests: nothing claimed
