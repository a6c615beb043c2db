"""How a measured (000) disc departs from the simulated one: its position, rotation and k-scale on
the detector, and the detector's blur — fit parameters beside the structure.

A measured disc is never exactly the simulation's pixel grid: the beam tilt puts the disc centre
off the grid centre (a pixel is ≈ 1.6 mrad in the demo's geometry), the detector is rotated with
respect to the crystal's x direction, the convergence-angle calibration sets the k-scale, and the
detector's point-spread function blurs the pattern (Felix applies a Gaussian blur of RBlurRadius
pixels for the same reason). Left out of the model, one pixel of offset or a 0.8 px blur moves
the refined charge δ by more than 1 e with a confidently small σ (issue #24).

The observation model, per detector pixel centre (u, v) [px from the grid centre, x along columns,
y along rows]:

    (u', v') = R(−φ)·((u, v) − (c_x, c_y)) / s        the point of the simulated disc it sees
    k⊥ = Δk·(u', v'),  k_z = (K² − |k⊥|²)^½           its incident wave vector (Δk = 2π·radius/N)
    D(u, v) = [G_w ⊗ I](u, v)                          the detector's Gaussian PSF on the image

with φ the rotation [degrees, counter-clockwise in (x, y)], s the k-scale (s > 1: the disc looks
larger), (c_x, c_y) the centre offset [px] and G_w a normalised Gaussian of standard deviation w [px]
(truncated at 3 w_max). The geometry enters the Bloch-wave calculation itself — each pixel is
simulated at the wave vector it sees, no interpolation between simulated pixels (a 32² LACBED disc
is far too finely structured for that: bicubic interpolation of a half-pixel shift was measured 10×
the Poisson noise of 10⁴ counts) — so its derivatives are exact, through the excitation errors and
the structure matrix (:mod:`.model`). The blur acts on the detector image, computed on a grid
enlarged by the kernel's half width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import OPTICS_PARAMETERS

#: the optics parameters that set the wave vector each pixel sees (the blur acts on the image)
GEOMETRY_PARAMETERS = OPTICS_PARAMETERS[:4]
OPTICS_UNITS = {"centre_x": "px", "centre_y": "px", "rotation": "degrees", "k_scale": "", "blur": "px (Gaussian σ)"}
#: a free blur starts here at least (at w = 0 its derivative vanishes: G_w is even in w)
BLUR_START = 0.5
#: the largest blur any fit may reach [px]; one fit reaches :func:`blur_ceiling` of its start, which
#: sets the enlarged grid (3 w_max pixels on every side: every one costs a ring of solved pixels)
MAX_BLUR = 4.0
#: bounds of the optics parameters in a fit around a centred, unrotated start (k_scale: a calibration
#: off by 20 % at most); :func:`optics_bounds` moves them with the start
OPTICS_BOUNDS = {"centre_x": (-8.0, 8.0), "centre_y": (-8.0, 8.0), "rotation": (-45.0, 45.0), "k_scale": (0.8, 1.25),
                 "blur": (0.0, MAX_BLUR)}


def optics_bounds(name: str, start: float) -> tuple[float, float]:
    """The fit's bounds of an optics parameter around its starting value: ±8 px of centre, ±45° of
    rotation, a k-scale between 0.8 and 1.25 times the start, a blur in [0, blur_ceiling(start)]."""
    lo, hi = OPTICS_BOUNDS[name]
    if name == "k_scale":
        return lo * start, hi * start
    if name == "blur":
        return lo, blur_ceiling(start)
    return start + lo, start + hi


def blur_ceiling(start: float) -> float:
    """The largest blur [px] a fit that starts at ``start`` may reach: twice the start, at least
    1 px, at most MAX_BLUR. The enlarged grid grows with it (a 32² disc: 38² pixels solved for a
    ceiling of 1 px, 44² for 2 px), so a fit starts its blur near the expected value (refine --blur)."""
    return min(MAX_BLUR, max(1.0, 2.0 * start))


@dataclass(frozen=True)
class OpticsGeometry:
    """The detector's view of the disc: centre offset [px], rotation [degrees], k-scale, blur σ [px]."""

    centre_x: float = 0.0
    centre_y: float = 0.0
    rotation: float = 0.0
    k_scale: float = 1.0
    blur: float = 0.0

    @property
    def centred(self) -> bool:
        """Whether the pixels see the simulation's own grid (no offset, rotation or scale)."""
        return self.centre_x == 0.0 and self.centre_y == 0.0 and self.rotation == 0.0 and self.k_scale == 1.0

    def value(self, name: str) -> float:
        return float(getattr(self, name))


def blur_margin(blur: float, free: bool) -> int:
    """Pixels added on every side of the detector so the blur kernel sees real neighbours."""
    widest = blur_ceiling(max(blur, BLUR_START)) if free else blur
    return int(math.ceil(3.0 * widest)) if widest > 0 else 0


def pixel_offsets(side: int, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of the pixel centres [px from the grid centre] of a side × side detector enlarged by
    ``margin`` pixels on every side; row-major, u along columns (x), v along rows (y)."""
    centres = np.arange(side + 2 * margin) - margin - side / 2.0 + 0.5
    v, u = np.meshgrid(centres, centres, indexing="ij")
    return u.reshape(-1), v.reshape(-1)


def seen_wavevectors(u: torch.Tensor, v: torch.Tensor, g: torch.Tensor, dk: float, wavenumber: float) -> torch.Tensor:
    """Incident wave vectors (P, 3) [1/Å, with 2π] the pixels (u, v) see under the geometry
    g = (centre_x, centre_y, rotation [°], k_scale) (module docstring); differentiable in g."""
    phi = g[2] * (math.pi / 180.0)
    du, dv = u - g[0], v - g[1]
    mu = (torch.cos(phi) * du + torch.sin(phi) * dv) / g[3]
    mv = (-torch.sin(phi) * du + torch.cos(phi) * dv) / g[3]
    kx, ky = mu * dk, mv * dk
    return torch.stack([kx, ky, torch.sqrt(wavenumber**2 - kx * kx - ky * ky)], dim=-1)


def blur_image(image: torch.Tensor, width: torch.Tensor, margin: int) -> torch.Tensor:
    """The detector image: ``image`` (S, S[, C]) convolved with the normalised Gaussian of σ =
    ``width`` [px] truncated at ``margin`` pixels, then cropped by ``margin`` on every side."""
    if margin == 0:
        return image
    channels = image.dim() == 3
    stack = (image.permute(2, 0, 1) if channels else image[None])[None]
    x = torch.arange(-margin, margin + 1, dtype=torch.float64, device=image.device)
    weights = torch.exp(-x * x / (2.0 * (width * width + 1e-12)))
    kernel = (weights / weights.sum()).to(stack.dtype)
    c = stack.shape[1]
    out = torch.nn.functional.conv2d(stack, kernel.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    out = torch.nn.functional.conv2d(out, kernel.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)[0]
    return out.permute(1, 2, 0) if channels else out[0]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A detector PSF for test discs, independent of :func:`blur_image`: scipy's Gaussian filter
    of σ [px] (truncated at 4σ, edges reflected)."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.asarray(image, dtype=float), sigma, mode="nearest") if sigma > 0 else np.asarray(image, dtype=float)


def register_shift(observed: np.ndarray, model: np.ndarray, use: np.ndarray, max_shift: int = 3) -> tuple[float, float, float]:
    """The shift (x, y) [px] that best lays the ``model`` disc on the ``observed`` one — observed(r, c)
    ≈ model(r − y, c − x), i.e. the centre offset of :class:`OpticsGeometry` — by the Pearson
    correlation over the overlap of the used pixels for every whole-pixel shift up to
    ``max_shift``, refined by a parabola through the best one and its neighbours in each axis;
    and that correlation.

    A fit finds the centre by itself only from within about half a pixel: a sharp LACBED disc's
    χ² oscillates with the centre on the scale of its finest fringes (measured: GaAs at 16² px,
    one pixel off, the fit ended at χ²/dof 3400 from a centred start). Whole-pixel shifts of the
    pattern are exact windows of a larger disc, so the registration starts the fit within reach."""
    side = observed.shape[0]
    scores = np.full((2 * max_shift + 1, 2 * max_shift + 1), -np.inf)
    for iy, sy in enumerate(range(-max_shift, max_shift + 1)):
        for ix, sx in enumerate(range(-max_shift, max_shift + 1)):
            rows = slice(max(sy, 0), side + min(sy, 0))
            cols = slice(max(sx, 0), side + min(sx, 0))
            model_rows = slice(max(-sy, 0), side + min(-sy, 0))
            model_cols = slice(max(-sx, 0), side + min(-sx, 0))
            keep = use[rows, cols]
            a, b = observed[rows, cols][keep], model[model_rows, model_cols][keep]
            if a.size > 10 and a.std() > 0 and b.std() > 0:
                scores[iy, ix] = float(np.corrcoef(a, b)[0, 1])
    iy, ix = np.unravel_index(int(np.argmax(scores)), scores.shape)

    def vertex(values: np.ndarray, i: int) -> float:
        if 0 < i < len(values) - 1 and np.all(np.isfinite(values[i - 1 : i + 2])):
            left, mid, right = values[i - 1], values[i], values[i + 1]
            curvature = left - 2.0 * mid + right
            if curvature < 0:
                return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
        return 0.0

    x = ix - max_shift + vertex(scores[iy, :], ix)
    y = iy - max_shift + vertex(scores[:, ix], iy)
    return x, y, float(scores[iy, ix])
