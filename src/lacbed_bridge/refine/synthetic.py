"""Test discs as a detector records them: the exact Bloch-wave disc at the wave vectors each pixel
sees (off-centre, rotated, rescaled; refine/optics.py), blurred by a Gaussian PSF with scipy — an
implementation independent of the fit's own blur — and, optionally, Poisson noise. For tests,
benchmarks and ``lacbed-bridge noisy``."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from ..crystal.model import Crystal
from ..simulate.settings import LacbedSettings
from .model import DiscModel
from .optics import OpticsGeometry, gaussian_blur


def simulate_observation(crystal: Crystal, settings: LacbedSettings, geometry: OpticsGeometry = OpticsGeometry(), *,
                         thickness_index: int = 0, mean_absorption: bool = False, device: str = "cpu") -> np.ndarray:
    """The side × side disc a detector records under ``geometry``: simulated on a detector enlarged
    by 4σ of the blur (same Δk), blurred by scipy's Gaussian filter, cropped. Intensity per unit
    incident beam, float64."""
    pad = int(math.ceil(4.0 * geometry.blur)) if geometry.blur > 0 else 0
    n = settings.pixel_count
    enlarged = replace(settings, pixel_count=n + pad, outer_convergence_angle=settings.outer_convergence_angle * (n + pad) / n)
    model = DiscModel(crystal, enlarged, [], thickness_index=thickness_index, mean_absorption=mean_absorption,
                      geometry=replace(geometry, blur=0.0), device=torch.device(device))
    with torch.no_grad():
        disc = model.evaluate(model.start).cpu().numpy()
    blurred = gaussian_blur(disc, geometry.blur)
    return blurred[pad : pad + settings.side, pad : pad + settings.side]
