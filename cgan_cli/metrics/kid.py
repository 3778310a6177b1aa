"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased MMD² estimate
with the polynomial kernel k(x, y) = (γ x·y + c)^d, γ = 1/D, c 1, d 3, averaged over random subsets, as
torch-fidelity's `kid_features_to_metric` (kid_subsets 100, kid_subset_size 1000; each subset drawn without
replacement by `np.random.RandomState(seed).choice`, real then fake, so seed 2020, torch-fidelity's
`rng_seed`, picks the same subsets). Differences: float64 kernels instead of float32, and a set smaller
than the subset size shrinks the subsets (with a warning) instead of being an error.
"""

from __future__ import annotations

import numpy as np
import torch


def polynomial_kernel(
    x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> torch.Tensor:
    """(γ x·yᵀ + c)^d for all row pairs; γ defaults to 1/D (Bińkowski et al.)."""
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(k_xx: torch.Tensor, k_xy: torch.Tensor, k_yy: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² of two m-sample sets: within-set kernel sums without their diagonals over m(m−1),
    minus twice the full cross sum over m² (torch-fidelity's `mmd2(mmd_est="unbiased")`)."""
    m = k_xx.shape[0]
    within = (k_xx.sum() - k_xx.diagonal().sum()) + (k_yy.sum() - k_yy.diagonal().sum())
    return within / (m * (m - 1)) - 2 * k_xy.sum() / (m * m)


def kernel_inception_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 0,
) -> tuple[float, float, list[str]]:
    """(mean, std, warnings) of the unbiased MMD² over `subsets` random subsets of `subset_size` per side.

    The std is NumPy's population std (ddof 0), as torch-fidelity reports it. Computed in float64 on the
    features' device; only the subsets are upcast."""
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"KID needs subsets ≥ 1 and subset_size ≥ 2, got {subsets} and {subset_size}")
    n_real, n_fake = len(real), len(fake)
    messages: list[str] = []
    if min(n_real, n_fake) < subset_size:
        smaller = min(n_real, n_fake)
        if smaller < 2:
            raise ValueError(f"KID needs at least 2 samples per set, got {n_real} real and {n_fake} fake")
        messages.append(
            f"KID subset size {subset_size} is larger than the smaller set ({n_real} real, {n_fake} fake); "
            f"using subsets of {smaller}"
        )
        subset_size = smaller
    rng = np.random.RandomState(seed)
    mmds = []
    for _ in range(subsets):
        # torch-fidelity's order: the real subset's indices, then the fake's
        idx_real = torch.from_numpy(rng.choice(n_real, subset_size, replace=False)).to(real.device)
        idx_fake = torch.from_numpy(rng.choice(n_fake, subset_size, replace=False)).to(fake.device)
        x = real[idx_real].to(torch.float64)
        y = fake[idx_fake].to(device=real.device, dtype=torch.float64)
        mmds.append(
            mmd2_unbiased(
                polynomial_kernel(x, x, degree, gamma, coef0),
                polynomial_kernel(x, y, degree, gamma, coef0),
                polynomial_kernel(y, y, degree, gamma, coef0),
            )
        )
    values = torch.stack(mmds).cpu().numpy()
    return float(np.mean(values)), float(np.std(values)), messages
