"""One microscope frame (crystal/orientation.py, issue #26 item 5): the LACBED simulator and the EDD
projection use the same function, so a reflection g points the same way in the disc and in the
EDD image (docs/architecture.md §4, "EDD image and LACBED disc share the frame")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lacbed_bridge.crystal import orientation
from lacbed_bridge.crystal.model import Crystal, Site
from lacbed_bridge.crystal.orientation import BeamGeometry, microscope_frame
from lacbed_bridge.crystal.prototypes import load_prototypes

PROTOTYPES = load_prototypes()
MONOCLINIC = Crystal("mono", (5.1, 6.3, 7.7, 90.0, 103.5, 90.0), "P 1 21/c 1",
                     (Site("Ga1", "Ga", (0.11, 0.23, 0.37), 1.0, 0.006, 2.6, 1.05), Site("O1", "O", (0.31, 0.13, 0.07), 0.9, 0.009)))
TRICLINIC = Crystal("tric", (5.4, 6.1, 7.2, 81.0, 97.0, 112.0), "P -1",
                    (Site("Sr1", "Sr", (0.1, 0.2, 0.3), 1.0, 0.005), Site("Ti1", "Ti", (0.4, 0.15, 0.6), 1.0, 0.007)))


def _crystal(key: str) -> Crystal:
    if key == "monoclinic":
        return MONOCLINIC
    if key == "triclinic":
        return TRICLINIC
    return PROTOTYPES[key].crystal(u_iso={s.label: 0.008 for s in PROTOTYPES[key].sites})


CASES = [("zincblende", (-1, 1, 0), (1, 1, 0)), ("zincblende", (1, 1, 1), (1, -1, 0)), ("wurtzite", (0, 0, 1), (1, 0, 0)),
         ("wurtzite", (1, 1, 0), (0, 0, 1)), ("corundum", (1, 0, 0), (0, 1, 0)), ("rutile", (1, 1, 0), (0, 0, 1)),
         ("monoclinic", (1, 0, 1), (0, 1, 0)), ("monoclinic", (0, 1, 0), (1, 0, 0)), ("triclinic", (1, 1, 1), (1, -1, 0))]


def test_the_simulator_and_the_edd_projection_call_the_same_frame() -> None:
    from lacbed_bridge.edd import projection
    from lacbed_bridge.simulate import bloch

    assert projection.microscope_frame is orientation.microscope_frame
    assert bloch.microscope_frame is orientation.microscope_frame


@pytest.mark.parametrize(("key", "beam", "x"), CASES)
def test_a_reflection_points_the_same_way_in_the_disc_and_in_the_edd_image(key: str, beam, x) -> None:
    """The EDD's in-plane (g_x, g_y) of every ZOLZ reflection it sums are the simulator's frame's
    g_vectors (÷ 2π), whatever surface normal the LACBED experiment has; and the frame is the one
    the crystal's Cartesian frame (gemmi's orth/frac, an independent construction) gives for
    x̂ ∥ (hkl), ẑ ∥ [uvw], ŷ = ẑ × x̂ (a right-handed frame, the beam along +ẑ)."""
    from lacbed_bridge.edd.projection import _frame, _zolz_terms

    crystal = _crystal(key)
    uvw, hkl_x = np.array(beam), np.array(x)
    sim = microscope_frame(crystal, BeamGeometry(beam, x, beam))
    terms = _zolz_terms(crystal, uvw, _frame(crystal, uvw, hkl_x), 0.6)
    g_sim = sim.g_vectors(terms.hkl) / (2.0 * math.pi)
    np.testing.assert_allclose(np.stack([terms.gx, terms.gy], axis=1), g_sim[:, :2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(g_sim[:, 2], 0.0, atol=1e-12)  # the zero-order Laue zone lies in the image plane
    assert len(terms.hkl) > 3

    cell = crystal.gemmi_cell()
    z = np.array(cell.orth.mat) @ uvw
    xg = hkl_x @ np.array(cell.frac.mat)
    z, xg = z / np.linalg.norm(z), xg / np.linalg.norm(xg)
    np.testing.assert_allclose(sim.rotation, [xg, np.cross(z, xg), z], rtol=0, atol=1e-14)
    assert np.linalg.det(sim.rotation) == pytest.approx(1.0, abs=1e-12)


def test_the_surface_normal_tilts_nothing_in_the_frame() -> None:
    """The EDD has no surface normal; the frame's axes do not depend on it (only frame.normal does)."""
    crystal = _crystal("zincblende")
    a = microscope_frame(crystal, BeamGeometry((-1, 1, 0), (1, 1, 0), (-1, 1, 0)))
    b = microscope_frame(crystal, BeamGeometry((-1, 1, 0), (1, 1, 0), (-1, 1, 1)))
    assert np.array_equal(a.rotation, b.rotation) and np.array_equal(a.reciprocal, b.reciprocal)
    assert not np.allclose(a.normal, b.normal)
