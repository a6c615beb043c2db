"""Image metrics on the dataset's [0, 1] scale (docs/architecture.md §7).

* MSE: mean over pixels of (prediction − target)² (the original's headline figure, < 0.02);
* SSIM: Wang et al. 2004, Gaussian window 11 px, σ = 1.5 px, data range 1 (torchmetrics);
* PSNR: 10·log10(1 / MSE) [dB] with data range 1 (per sample: ∞ for a perfect prediction).
"""

from __future__ import annotations

import math

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

#: SSIM settings (docs/architecture.md §7).
SSIM_KERNEL, SSIM_SIGMA, DATA_RANGE = 11, 1.5, 1.0


def ssim(pred: torch.Tensor, target: torch.Tensor, reduction: str | None = "elementwise_mean") -> torch.Tensor:
    """SSIM of (B, C, H, W) images on [0, 1] (differentiable; ``reduction='none'`` gives one per image)."""
    return structural_similarity_index_measure(
        pred, target, gaussian_kernel=True, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL, data_range=DATA_RANGE, reduction=reduction
    )


def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image ``mse``, ``ssim`` and ``psnr`` [dB] of (B, 1, H, W) float tensors on [0, 1]."""
    pred, target = pred.float(), target.float()
    mse = ((pred - target) ** 2).flatten(1).mean(dim=1)
    psnr = peak_signal_noise_ratio(pred, target, data_range=DATA_RANGE, reduction="none", dim=(1, 2, 3))
    return {"mse": mse, "ssim": ssim(pred, target, reduction="none"), "psnr": psnr}


def psnr_from_mse(mse: float) -> float:
    """PSNR [dB] of a mean squared error on a data range of 1 (∞ for 0)."""
    return math.inf if mse <= 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)
