"""Per-image full-reference metrics for paired translation (pix2pix-style: output against its ground truth).

Inputs are (N, C, H, W) float images in [0, data_range]; each function returns one float64 value per image.
SSIM follows Wang et al. 2004 with the convention of scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=...)`, which
is also Wang's reference `ssim_index.m` (without the later ssim.m's automatic downsampling): 11×11 Gaussian
window of σ 1.5 normalised to sum 1, K1 0.01, K2 0.03, local statistics over 'valid' windows only (skimage
filters with reflection and then crops the 5-pixel border), SSIM map averaged per channel, channels averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(
            f"paired metrics need two (N, C, H, W) batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a.to(torch.float64), b.to(device=a.device, dtype=torch.float64)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image."""
    a, b = _pair(a, b)
    return (a - b).abs().flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """10·log10(data_range² / MSE) per image, MSE over all channels and pixels; identical images give +inf."""
    a, b = _pair(a, b)
    mse = (a - b).square().flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)  # x/0 → inf


def _gaussian_window(device: torch.device) -> torch.Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM per image (see the module docstring for the convention); images must be at least 11×11."""
    a, b = _pair(a, b)
    n, c, h, w = a.shape
    if min(h, w) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {w}×{h}")
    g = _gaussian_window(a.device)
    # separable Gaussian, every channel and statistic filtered independently: (5·N·C, 1, H, W)
    stack = torch.cat([a, b, a * a, b * b, a * b]).reshape(-1, 1, h, w)
    stack = F.conv2d(stack, g.view(1, 1, SSIM_WINDOW, 1))
    stack = F.conv2d(stack, g.view(1, 1, 1, SSIM_WINDOW))
    mu_a, mu_b, e_aa, e_bb, e_ab = stack.reshape(5, n, c, h - SSIM_WINDOW + 1, w - SSIM_WINDOW + 1)
    var_a, var_b, cov = e_aa - mu_a * mu_a, e_bb - mu_b * mu_b, e_ab - mu_a * mu_b
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(2).mean(2).mean(1)
