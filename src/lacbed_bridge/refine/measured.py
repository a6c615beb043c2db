"""Measured discs in: microscope files read, the (000) disc found, cut and binned to the model grid.

Formats: DigitalMicrograph ``.dm3``/``.dm4``, EMD (``.emd``), MRC (``.mrc``) and TIFF through
RosettaSciIO (the field's IO library, ``pip install 'lacbed-bridge[measured]'``; TIFF also without it,
by tifffile), and Felix's experimental ``.img`` (raw little-endian float64, one square image, as
Felix's ``read_files_mod.f90`` reads them). A file holding several images or a stack is refused
with its shape; a file that cannot be read gets one line naming it.

Preparation (:func:`prepare_disc`): the disc's centre and radius are found in the frame
(:func:`find_disc`: the largest bright region after a light smoothing, its centroid and the radius of
a circle of its area; a disc that fills the frame is the frame), unless given. The config's
``outer_convergence_angle`` is the disc's radius, N = ``pixel_count`` model pixels, so the frame is
binned by the whole factor f nearest radius/N (the mean of f × f blocks: a detector of larger
pixels), cut to the model's 2N × 2N window around the centre, and what binning by whole pixels
cannot do goes into the fit's optics as starting values: the sub-pixel remainder of the centre
(``centre_x``, ``centre_y``) and the ratio of the binned radius to N (``k_scale``). Pixels of the
window outside the frame are NaN (masked in the fit). The original frame is kept beside the fit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .optics import OpticsGeometry

#: suffix → RosettaSciIO plugin
RSCIIO_READERS = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd", ".mrc": "mrc",
                  ".tif": "tiff", ".tiff": "tiff"}
FORMATS = (*RSCIIO_READERS, ".img")
#: pixels of a disc found inside a frame within this many (binned) pixels of its edge (at most a
#: tenth of its radius) or beyond are left out of the fit: the aperture's edge is blurred, beyond it the model does not apply, and the
#: fitted blur must not reach the dark outside (3σ of a 1 px PSF)
APERTURE_MARGIN = 3.0
#: the frame's edge counts as dark background below this fraction of the bright pixels' brightness
FILLS_FRAME_RATIO = 0.25


@dataclass(frozen=True)
class MeasuredImage:
    """One 2-D image read from a microscope file: ``data`` (float64, rows = y), the reader used and
    the calibration the file carries (pixel size and unit, when both axes agree)."""

    data: np.ndarray
    path: str
    reader: str
    pixel_size: float | None = None
    units: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the file holds the disc's square, edge to edge (Felix's .img): nothing to find
    fills_frame: bool = False


def read_measured(path: str | os.PathLike[str]) -> MeasuredImage:
    """Read the one image of a measured disc file (module docstring)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.is_file():
        raise InputError("file not found", path=p)
    if suffix == ".img":
        return _read_felix_img(p)
    if suffix not in RSCIIO_READERS:
        raise InputError(f"unknown image format {suffix or '(no suffix)'!r}; expected one of {', '.join(FORMATS)}", path=p)
    try:
        import importlib

        reader = importlib.import_module(f"rsciio.{RSCIIO_READERS[suffix]}").file_reader
    except ImportError:
        if suffix in (".tif", ".tiff"):
            return _read_tifffile(p)
        raise InputError(f"reading {suffix} files needs RosettaSciIO: pip install 'lacbed-bridge[measured]'", path=p) from None
    try:
        signals = reader(str(p))
    except Exception as exc:  # noqa: BLE001 - each reader raises its own types for a damaged file
        raise InputError(f"not a readable {suffix} file ({type(exc).__name__}: {exc})", path=p) from None
    images = [s for s in signals if np.ndim(s.get("data")) == 2]
    if len(images) != 1:
        shapes = [tuple(np.shape(s.get("data"))) for s in signals]
        raise InputError(f"expected one 2-D image, the file holds {len(signals)} signal(s) of shape(s) {shapes}; "
                         "save the (000) disc on its own", path=p)
    signal = images[0]
    data = np.asarray(signal["data"], dtype=float)
    axes = signal.get("axes") or []
    scales = {float(a.get("scale", 1.0)) for a in axes}
    units = {str(a.get("units") or "") for a in axes}
    calibrated = len(scales) == 1 and len(units) == 1 and units != {""}
    return MeasuredImage(data=data, path=str(p), reader=f"rsciio.{RSCIIO_READERS[suffix]}",
                         pixel_size=scales.pop() if calibrated else None, units=units.pop() if calibrated else None,
                         metadata={"title": ((signal.get("metadata") or {}).get("General") or {}).get("title")})


def _read_felix_img(p: Path) -> MeasuredImage:
    size = p.stat().st_size
    n = size // 8
    side = math.isqrt(n)
    if size % 8 or side * side != n or side == 0:
        raise InputError(f"a Felix .img holds one square image of float64 values; {size} bytes is not 8·side²", path=p)
    data = np.fromfile(p, dtype="<f8").reshape(side, side)
    if not np.isfinite(data).any():
        raise InputError("no finite value in the image (not little-endian float64?)", path=p)
    return MeasuredImage(data=data, path=str(p), reader="felix .img (little-endian float64)", fills_frame=True)


def _read_tifffile(p: Path) -> MeasuredImage:
    import tifffile

    try:
        data = tifffile.imread(p)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"not a readable TIFF ({exc})", path=p) from None
    if data.ndim != 2:
        raise InputError(f"expected one 2-D image, the TIFF holds shape {data.shape}", path=p)
    return MeasuredImage(data=np.asarray(data, dtype=float), path=str(p), reader="tifffile")


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (Otsu 1979, IEEE Trans. SMC 9, 62): the level that best separates two
    classes of values, maximising the between-class variance of the histogram."""
    counts, edges = np.histogram(values[np.isfinite(values)], bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    weight = np.cumsum(counts)
    total = weight[-1]
    mean = np.cumsum(counts * centres)
    w0, w1 = weight[:-1], total - weight[:-1]
    valid = (w0 > 0) & (w1 > 0)
    between = np.zeros_like(w0, dtype=float)
    m0 = mean[:-1][valid] / w0[valid]
    m1 = (mean[-1] - mean[:-1][valid]) / w1[valid]
    between[valid] = w0[valid] * w1[valid] * (m0 - m1) ** 2
    return float(edges[1:][int(np.argmax(between))])


def find_disc(image: np.ndarray) -> tuple[float, float, float, bool]:
    """(centre x, centre y, radius) [px; x = column, y = row, pixel centres at integers] of the
    bright disc in a frame, and whether it fills the frame.

    The image, smoothed by a 1 px Gaussian, is split at Otsu's threshold into bright and dark
    (:func:`otsu_threshold`: no assumption on how much of the frame the disc covers). When the
    frame's edge (a 2 px ring) is not dark — its median above the image's minimum by more than a
    quarter of the bright pixels' — the disc fills the frame (a file cut to the disc's square, as Felix's
    experimental images are): centre = frame centre, radius = half the shorter side. Else the disc is the largest bright region, closed over 2 px and its holes (dark fringes,
    HOLZ lines) filled: centre = its centroid, radius = √(area/π)."""
    from scipy import ndimage

    data = np.nan_to_num(np.asarray(image, dtype=float), nan=float(np.nanmin(image)))
    h, w = data.shape
    smooth = ndimage.gaussian_filter(data, 1.0)
    if not smooth.max() > smooth.min():
        raise InputError("the image is flat: no disc to find")
    ring = np.ones_like(data, dtype=bool)
    ring[2:-2, 2:-2] = False
    bright = smooth > otsu_threshold(smooth)
    lowest = float(smooth.min())
    if np.median(smooth[ring]) - lowest > FILLS_FRAME_RATIO * (np.median(smooth[bright]) - lowest):
        # no dark surround: the edge of the frame is not much darker than the bright part
        return (w - 1) / 2.0, (h - 1) / 2.0, min(h, w) / 2.0, True
    bright = ndimage.binary_closing(bright, iterations=2)
    labels, count = ndimage.label(bright)
    if count == 0:
        raise InputError("no bright region found in the image")
    sizes = ndimage.sum(np.ones_like(data), labels, index=np.arange(1, count + 1))
    region = ndimage.binary_fill_holes(labels == int(np.argmax(sizes)) + 1)
    rows, cols = np.nonzero(region)
    return float(cols.mean()), float(rows.mean()), math.sqrt(float(region.sum()) / math.pi), False


@dataclass(frozen=True)
class PreparedDisc:
    """A measured disc on the model grid: ``disc`` (side × side, NaN outside the frame), the optics'
    starting values, what was done (for the report), and the frame as read."""

    disc: np.ndarray
    geometry: OpticsGeometry
    info: dict[str, Any]
    measured: MeasuredImage


def prepare_disc(measured: MeasuredImage, side: int, *, centre: tuple[float, float] | None = None,
                 radius: float | None = None) -> PreparedDisc:
    """Bin and cut ``measured`` to the model's side × side grid (module docstring). ``centre`` (x, y)
    and ``radius`` [frame px] override what :func:`find_disc` finds."""
    data = measured.data
    fills = measured.fills_frame
    if measured.fills_frame:
        h, w = data.shape
        centre = centre or ((w - 1) / 2.0, (h - 1) / 2.0)
        radius = radius or min(h, w) / 2.0
    elif centre is None or radius is None:
        try:
            cx, cy, r, fills = find_disc(data)
        except InputError as exc:
            raise InputError(f"{exc.message}; give --disc-centre and --disc-radius", path=measured.path) from None
        centre = centre or (cx, cy)
        radius = radius or r
    if not radius > 0:
        raise InputError(f"disc radius {radius} px must be positive", path=measured.path, field="--disc-radius")
    n = side // 2
    factor = max(1, int(round(radius / n)))  # the whole factor that brings the binned radius nearest N
    h, w = data.shape
    hb, wb = h // factor, w // factor
    binned = data[: hb * factor, : wb * factor].reshape(hb, factor, wb, factor).mean(axis=(1, 3))
    # frame px → binned px (pixel centres at integers in both)
    cxb, cyb = (centre[0] + 0.5) / factor - 0.5, (centre[1] + 0.5) / factor - 0.5
    col0, row0 = int(round(cxb + 0.5 - n)), int(round(cyb + 0.5 - n))
    window = np.full((side, side), np.nan)
    r0, r1, c0, c1 = max(row0, 0), min(row0 + side, hb), max(col0, 0), min(col0 + side, wb)
    if r1 <= r0 or c1 <= c0:
        raise InputError(f"the disc centre ({centre[0]:.1f}, {centre[1]:.1f}) px lies outside the frame {w} × {h}",
                         path=measured.path, field="--disc-centre")
    window[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = binned[r0:r1, c0:c1]
    rb = radius / factor
    if not fills:  # outside the condenser aperture (and on its blurred edge) the model does not apply
        v, u = np.meshgrid(np.arange(side) + row0, np.arange(side) + col0, indexing="ij")
        window[np.hypot(u - cxb, v - cyb) > rb - min(APERTURE_MARGIN, 0.1 * rb)] = np.nan
    geometry = OpticsGeometry(centre_x=cxb - (col0 + n - 0.5), centre_y=cyb - (row0 + n - 0.5), k_scale=rb / n)
    info = {"file": measured.path, "reader": measured.reader, "frame": [h, w], "pixel_size": measured.pixel_size,
            "units": measured.units, "disc_centre_px": [float(centre[0]), float(centre[1])], "disc_radius_px": float(radius),
            "disc_fills_frame": bool(fills), "bin_factor": factor, "window_origin_binned_px": [row0, col0],
            "pixels_outside_frame": int(np.isnan(window).sum()),
            "start": {"centre_x": geometry.centre_x, "centre_y": geometry.centre_y, "k_scale": geometry.k_scale}}
    return PreparedDisc(disc=window, geometry=geometry, info=info, measured=measured)
