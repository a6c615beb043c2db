"""Measured discs in (issue #24 item 4): microscope formats written by their own libraries,
Felix's .img, the real GaAs_long files, bad files in one line, the disc found, binned and cut to
the model grid, and a refinement straight from a microscope file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import yaml
from support.refine_case import REPO, gaas, small_settings

from lacbed_bridge.cli import main
from lacbed_bridge.config import validate_config
from lacbed_bridge.crystal.cif import write_cif
from lacbed_bridge.errors import InputError
from lacbed_bridge.refine.measured import find_disc, prepare_disc, read_measured
from lacbed_bridge.refine.model import DiscModel

GAAS_LONG = REPO / "tests" / "data" / "GaAs_long"


def _signal(data: np.ndarray, scale: float = 0.01, units: str = "1/nm") -> dict:
    axes = [{"name": n, "size": s, "scale": scale, "offset": 0.0, "units": units, "navigate": False}
            for n, s in zip(("y", "x"), data.shape)]
    return {"data": data, "axes": axes, "metadata": {"General": {"title": "disc"}, "Signal": {}}, "original_metadata": {}}


def test_every_format_reads_the_same_image(tmp_path: Path) -> None:
    import mrcfile
    from rsciio.emd import file_writer as write_emd
    from rsciio.tiff import file_writer as write_rsciio_tiff

    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    write_emd(str(tmp_path / "a.emd"), _signal(image))
    write_rsciio_tiff(str(tmp_path / "a.tif"), _signal(image))
    with mrcfile.new(tmp_path / "a.mrc") as handle:
        handle.set_data(image)
    counts = (image * 60000).astype(np.uint16)  # a detector's 16-bit TIFF
    tifffile.imwrite(tmp_path / "counts.tiff", counts)
    image.astype("<f8").tofile(tmp_path / "a.img")
    for name in ("a.emd", "a.tif", "a.mrc", "a.img"):
        read = read_measured(tmp_path / name)
        np.testing.assert_array_equal(read.data, image.astype(float), err_msg=name)
    np.testing.assert_array_equal(read_measured(tmp_path / "counts.tiff").data, counts.astype(float))
    emd = read_measured(tmp_path / "a.emd")
    assert emd.pixel_size == pytest.approx(0.01) and emd.units.replace(" ", "") == "1/nm" and emd.reader == "rsciio.emd"


def test_the_real_gaas_long_files() -> None:
    dm3 = read_measured(GAAS_LONG / "GaAs_+0+0+0.dm3")
    assert dm3.data.shape == (336, 336) and np.isfinite(dm3.data).all() and dm3.reader == "rsciio.digitalmicrograph"
    img = read_measured(GAAS_LONG / "GaAs_+0+0+0.img")
    assert img.data.shape == (70, 70) and img.data.max() == pytest.approx(65535.0)
    _, _, radius, fills = find_disc(dm3.data)
    assert fills and radius == 168.0  # the files hold the disc's square, edge to edge
    prepared = prepare_disc(dm3, 70)
    # 168 px of radius for 35 model px: binned by 5 (the whole factor nearest 4.8), k_scale 33.6/35
    assert prepared.info["bin_factor"] == 5 and prepared.geometry.k_scale == pytest.approx(33.6 / 35)
    assert 0.9 < np.isfinite(prepared.disc).mean() < 1.0  # the frame (67 binned px) is a little smaller than the window
    same = prepare_disc(img, 70)
    assert same.info["bin_factor"] == 1 and same.geometry.k_scale == pytest.approx(1.0)
    np.testing.assert_array_equal(same.disc, img.data)


@pytest.mark.parametrize("name", ["+2+2+0", "+0+0+2", "+1+1+1"])
def test_the_measured_g_discs_are_the_models_g_discs(name: str) -> None:
    """Felix's GaAs_long ±g discs (file +h+k+l) are our hkl discs in our frame: the model's disc of
    that reflection at felix.inp's settings (830 Å, 16² px, 200 / 40 beams) correlates with the
    measured one (r > 0.85); the opposite reflection's disc, the transposed image and one of the two
    mirror images do not."""
    from dataclasses import replace

    from lacbed_bridge.crystal.cif import read_cif
    from lacbed_bridge.simulate.felix.inp import parse_felix_inp

    settings = replace(parse_felix_inp(GAAS_LONG / "felix.inp"), pixel_count=8, initial_thickness=830.0, final_thickness=830.0,
                       blur_radius=0.0, min_reflection_pool=200, min_strong_beams=40)
    crystal = read_cif(GAAS_LONG / "felix.cif")
    prepared = prepare_disc(read_measured(GAAS_LONG / f"GaAs_{name}.img"), settings.side)
    hkl = tuple(int(name[i:i + 2]) for i in (0, 2, 4))

    def disc(reflection) -> np.ndarray:
        model = DiscModel(crystal, settings, [], geometry=replace(prepared.geometry, blur=0.5), hkl=reflection)
        return model.evaluate(model.start).numpy()

    def r(simulated: np.ndarray, image: np.ndarray) -> float:
        use = np.isfinite(image)
        return float(np.corrcoef(simulated[use], image[use])[0, 1])

    own = disc(hkl)
    r_own = r(own, prepared.disc)
    others = {"-hkl": r(disc(tuple(-h for h in hkl)), prepared.disc), "left-right": r(own, prepared.disc[:, ::-1]),
              "up-down": r(own, prepared.disc[::-1]), "transposed": r(own, prepared.disc.T)}
    assert r_own > 0.85, r_own
    assert others["-hkl"] < r_own - 0.3 and others["transposed"] < r_own - 0.3, others
    # the zone's mirror maps a g disc of the pattern onto itself along g or across it, not both
    assert min(others["left-right"], others["up-down"]) < r_own - 0.3, others


@pytest.mark.parametrize(("name", "content", "message"), [
    ("broken.dm3", b"not a dm3 file at all" * 10, "not a readable .dm3 file"),
    ("short.img", b"\x00" * 100, "8·side²"),
    ("disc.png", b"\x89PNG", "unknown image format '.png'"),
])
def test_a_bad_file_gets_one_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_measured(tmp_path / name)
    assert str(tmp_path / name) in str(err.value) and "\n" not in str(err.value)


def test_a_stack_is_refused_with_its_shape(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((5, 8, 8), np.float32), photometric="minisblack")
    with pytest.raises(InputError, match=r"one 2-D image.*\(5, 8, 8\)"):
        read_measured(tmp_path / "stack.tif")


def _frame(disc: np.ndarray, factor: int, origin: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """A detector frame: the disc magnified ``factor`` times inside a circular aperture of radius
    (side/2)·factor, on a dark background, its window's corner at ``origin`` (row, col)."""
    side = disc.shape[0]
    big = np.kron(disc, np.ones((factor, factor)))
    centre = side * factor / 2 - 0.5
    v, u = np.mgrid[: side * factor, : side * factor]
    big[np.hypot(u - centre, v - centre) > side * factor / 2] = 0.0
    frame = np.full(shape, 0.002)
    frame[origin[0] : origin[0] + side * factor, origin[1] : origin[1] + side * factor] += big
    return frame


def test_a_disc_inside_a_frame_is_found_binned_and_cut(tmp_path: Path) -> None:
    crystal = gaas()
    model = DiscModel(crystal, small_settings(), [])
    with torch.no_grad():
        disc = model.disc(model.start).numpy()  # 16 × 16
    frame = _frame(disc, 2, (30, 44), (100, 120))
    cx, cy, radius, fills = find_disc(frame)
    assert not fills and abs(cx - (44 + 15.5)) < 0.05 and abs(cy - (30 + 15.5)) < 0.05 and abs(radius - 16) < 0.3
    from rsciio.emd import file_writer as write_emd

    write_emd(str(tmp_path / "frame.emd"), _signal(frame.astype(np.float32)))
    prepared = prepare_disc(read_measured(tmp_path / "frame.emd"), 16)
    inside = np.isfinite(prepared.disc)
    assert prepared.info["bin_factor"] == 2 and 120 < inside.sum() < 200  # the corners beyond the aperture are out
    np.testing.assert_allclose(prepared.disc[inside], disc[inside] + 0.002, atol=1e-6)
    assert abs(prepared.geometry.centre_x) < 0.05 and abs(prepared.geometry.k_scale - 1.0) < 0.03


@pytest.mark.slow  # about 2 s (a trained model or a fit): the quick loop leaves it to make test
def test_refine_straight_from_a_microscope_file(tmp_path: Path) -> None:
    """A frame as an EMD file: the disc is found and prepared, the fit starts from the found optics
    and gives back the thickness; the frame and the prepared disc are written beside the report."""
    truth = gaas(delta=0.3, kappa=(1.0, 1.0))
    model = DiscModel(truth, small_settings(), [])
    with torch.no_grad():
        disc = model.disc(model.start).numpy()
    from rsciio.emd import file_writer as write_emd

    write_emd(str(tmp_path / "frame.emd"), _signal((1000 * _frame(disc, 2, (20, 24), (80, 90))).astype(np.float32)))
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"].update(pixel_count=8, min_reflection_pool=60, min_strong_beams=20, initial_thickness=470.0,
                                final_thickness=470.0, thickness_index=0, device="cpu", convergence=None)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(validate_config(config)))
    write_cif(truth, tmp_path / "start.cif")
    assert main(["refine", str(tmp_path / "start.cif"), str(tmp_path / "frame.emd"), "--config", str(path), "--free",
                 "thickness,centre,k_scale", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["measured"]["bin_factor"] == 2 and report["measured"]["reader"] == "rsciio.emd"
    assert report["parameters"]["thickness"]["value"] == pytest.approx(500.0, abs=0.5)
    assert abs(report["parameters"]["centre_x"]["value"]) < 0.05
    assert report["parameters"]["scale"]["value"] == pytest.approx(1000.0, rel=1e-3)
    assert (tmp_path / "out" / "measured.tif").is_file() and (tmp_path / "out" / "prepared.tif").is_file()


def test_noisy_makes_seeded_poisson_test_discs(tmp_path: Path) -> None:
    from lacbed_bridge.io import read_tiff, write_tiff

    disc = np.full((16, 16), 0.25, np.float32)
    write_tiff(tmp_path / "disc.tif", disc, {"kind": "test"})
    for name, seed in (("a.tif", 3), ("b.tif", 3), ("c.tif", 4)):
        assert main(["noisy", str(tmp_path / "disc.tif"), "--counts", "1e4", "--seed", str(seed), "--out", str(tmp_path / name)]) == 0
    a, meta = read_tiff(tmp_path / "a.tif")
    np.testing.assert_array_equal(a, read_tiff(tmp_path / "b.tif")[0])
    assert not np.array_equal(a, read_tiff(tmp_path / "c.tif")[0])
    assert meta["noise"]["counts_per_unit_intensity"] == 1e4 and abs(a.mean() - 0.25) < 0.002
    assert 0.003 < a.std() < 0.007  # √(0.25/10⁴) = 0.005
    assert main(["noisy", str(tmp_path / "disc.tif"), "--counts", "-1"]) == 2


def test_a_small_disc_in_a_large_frame_is_found() -> None:
    """Otsu's threshold finds a disc covering 1 % of a frame (a fixed percentile did not), through
    dark fringes and a line crossing it."""
    v, u = np.mgrid[:400, :400]
    r = np.hypot(u - 131.3, v - 250.8)
    frame = np.where(r < 22.0, 0.5 + 0.3 * np.cos(u / 3.0), 0.01)
    frame[248:251, :] = np.where(r[248:251, :] < 22.0, 0.02, frame[248:251, :])  # a dark line across the disc
    frame += np.random.default_rng(1).normal(0.0, 0.005, frame.shape)
    cx, cy, radius, fills = find_disc(frame)
    assert not fills and abs(cx - 131.3) < 0.3 and abs(cy - 250.8) < 0.3 and abs(radius - 22.0) < 0.5


@pytest.mark.slow
def test_a_pattern_of_real_discs_from_the_command_line(tmp_path: Path) -> None:
    """The GaAs_long (000) and 220 discs (Felix's .img files) as one pattern through `refine`: the
    config carries felix.inp's geometry, Bird–King absorption and thickness series (800–900 Å), so
    the pattern's thickness is scanned over the series first (eleven thicknesses, both discs
    summed) and fitted with the pattern's blur; each disc its centre. Tiny beams (100 / 30, 8² px)
    and three iterations: the path, not the physics, is under test here (benchmarks/gaas_long.py
    measures the physics)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["simulation"].update(
        incident_beam_direction=[-1, 1, 0], x_direction=[-1, -1, 0], normal_direction=[-1, 1, 0], accelerating_voltage=200.0,
        outer_convergence_angle=0.7586, pixel_count=4, initial_thickness=800.0, final_thickness=900.0, delta_thickness=10.0,
        thickness_index=0, absorb_flag=2, absorption_per=7.8, debye_waller_constant=0.0, min_reflection_pool=100,
        min_strong_beams=30, use_symmetry=False, device="cpu")
    config["simulation"]["convergence"] = None
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(validate_config(config)))
    (tmp_path / "discs.yaml").write_text(yaml.safe_dump([
        {"disc": "GaAs_+0+0+0.img", "pattern": "GaAs_long", "optics": {"blur": 0.4}},
        {"disc": "GaAs_+2+2+0.img", "hkl": [2, 2, 0], "pattern": "GaAs_long", "optics": {"blur": 0.4}}]))
    out = tmp_path / "out"
    assert main(["refine", str(GAAS_LONG / "felix.cif"), str(GAAS_LONG / "GaAs_+0+0+0.img"), str(GAAS_LONG / "GaAs_+2+2+0.img"),
                 "--config", str(tmp_path / "config.yaml"), "--disc-settings", str(tmp_path / "discs.yaml"),
                 "--free", "thickness,centre,blur", "--max-iter", "3", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert {"thickness@GaAs_long", "blur@GaAs_long", "centre_x@1", "centre_y@2", "scale@2"} <= set(report["parameters"])
    assert not any(name in report["parameters"] for name in ("thickness@1", "thickness@2", "blur@1"))
    scan = report["thickness_scan"]["thickness@GaAs_long"]
    assert [t for t, _ in scan] == [800.0 + 10.0 * i for i in range(11)]
    assert report["parameters"]["thickness@GaAs_long"]["start"] == min(scan, key=lambda pair: pair[1])[0]
    assert 780.0 < report["parameters"]["thickness@GaAs_long"]["value"] < 920.0
    assert (out / "fitted_2.tif").is_file() and (out / "residual_1.tif").is_file()
