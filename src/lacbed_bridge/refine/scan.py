"""A thickness scan before the fit: start the thickness where the disc matches best.

The disc oscillates with thickness (Pendellösung): a least-squares fit started a few percent off
the true thickness can settle in the neighbouring fringe's minimum (docs/refine.md: a false
minimum at ≈ 2 % off, 900 Å). Felix therefore compares every thickness of its series
(``RInitialThickness`` … ``RFinalThickness`` in steps of ``RDeltaThickness``) with the
experiment before it refines anything, and so does this scan: the disc at every thickness of
the series (:meth:`.model.DiscModel.thickness_series`: the model's own disc at each of a few
thicknesses, one eigendecomposition per pixel for a long series), the
disc's intensity scale and background solved linearly at each (weighted least squares, as the
fit), and the fit started at the thickness of least χ². In a joint fit each thickness parameter
(``thickness@i`` of a disc, ``thickness@P`` of a pattern) is scanned over the discs it sets, the
others held at their starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .joint import JointModel
from .linear import linear_scale_background
from .model import DiscModel


def linear_chi2(images: np.ndarray, observed: np.ndarray, weight: np.ndarray, *, scale: bool = True,
                background: bool = True) -> np.ndarray:
    """χ² of each image of ``images`` (n, m) against ``observed`` (m,) with weights 1/σ (m,), after
    the best scale and background (each optional) by weighted linear least squares
    (:func:`.linear.linear_scale_background`)."""
    out = np.empty(len(images))
    for i, image in enumerate(images):
        _, residual = linear_scale_background(image, observed, weight, scale=scale, background=background)
        out[i] = float(np.sum(residual**2))
    return out


def _disc_chi2(model: DiscModel, theta: torch.Tensor, thicknesses: np.ndarray, observed: np.ndarray, use: np.ndarray,
               sigma: np.ndarray, *, scale: bool, background: bool) -> np.ndarray:
    """χ²(t) of one disc (side × side arrays) over ``thicknesses``."""
    series = model.thickness_series(theta, thicknesses).cpu().numpy().reshape(len(thicknesses), -1)
    keep = use.reshape(-1)
    return linear_chi2(series[:, keep], observed.reshape(-1)[keep], 1.0 / sigma.reshape(-1)[keep],
                       scale=scale, background=background)


def scan_thickness(model: DiscModel | JointModel, observed: np.ndarray, use: np.ndarray, sigma: np.ndarray,
                   thicknesses: Any, *, fit_scale: bool = True,
                   fit_background: bool = True) -> dict[str, list[tuple[float, float]]]:
    """Scan every free thickness of ``model`` over ``thicknesses`` [Å] (one list, or for a joint
    model a mapping from its thickness parameters to their lists; one absent or shorter than two
    is not scanned) and move its start to the thickness of least χ² (module docstring).
    ``observed``, ``use`` and ``sigma`` are shaped like the model's disc (a joint model's:
    (1, Σ side_i²)); a joint model's discs always have their own scale and background. Returns,
    per scanned parameter, the (thickness, χ²) pairs."""
    scans: dict[str, list[tuple[float, float]]] = {}
    if isinstance(model, JointModel):
        parts = [model.split(a) for a in (observed, use, sigma)]  # each disc's own images
        for k, name in enumerate(model.free):
            grids = thicknesses if isinstance(thicknesses, Mapping) else {name: thicknesses}
            if name.partition("@")[0] != "thickness" or len(grids.get(name, ())) < 2:
                continue
            grid = np.asarray(grids[name], dtype=float)
            total = np.zeros(len(grid))
            for i, m in enumerate(model.models):
                if model.name_of("thickness", i) == name:
                    total += _disc_chi2(m, model.local(model.start, i), grid, parts[0][i], parts[1][i], parts[2][i],
                                        scale=True, background=True)
            best = float(grid[int(np.argmin(total))])
            model.start[k] = best
            for i, m in enumerate(model.models):
                if model.name_of("thickness", i) == name:
                    m.start[m.free.index("thickness")] = best
            scans[name] = [(float(t), float(c)) for t, c in zip(grid, total, strict=True)]
        return scans
    grid = np.asarray(thicknesses, dtype=float)
    if "thickness" not in model.free or len(grid) < 2:
        return scans
    chi2 = _disc_chi2(model, model.start, grid, np.asarray(observed), np.asarray(use), np.asarray(sigma),
                      scale=fit_scale, background=fit_background)
    model.start[model.free.index("thickness")] = float(grid[int(np.argmin(chi2))])
    scans["thickness"] = [(float(t), float(c)) for t, c in zip(grid, chi2, strict=True)]
    return scans
