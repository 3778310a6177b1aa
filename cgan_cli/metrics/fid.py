"""Fréchet Inception Distance (Heusel et al. 2017) from feature statistics, with the semantics of
pytorch-fid's `calculate_frechet_distance` (ε 1e-6 retry, imaginary parts above 1e-3 rejected), but
computed in float64 torch from eigen/singular value decompositions instead of `scipy.linalg.sqrtm`,
so it runs on the features' device and needs neither SciPy's deprecated `disp` nor a Schur form.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray

# pytorch-fid: `np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)`
IMAGINARY_ATOL = 1e-3


def feature_stats(features: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (np.cov semantics: rows are samples, ddof 1) in float64 on the features' device.

    Two passes over row chunks upcast one at a time, so (N, D) float32 features never need an
    (N, D) float64 copy; centring before the product keeps it as accurate as `np.cov`."""
    if features.dim() != 2:
        raise ValueError(f"features must be (N, D), got shape {tuple(features.shape)}")
    n, d = features.shape
    if n < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {n}")
    device = features.device
    total = torch.zeros(d, dtype=torch.float64, device=device)
    for start in range(0, n, chunk):
        total += features[start : start + chunk].to(torch.float64).sum(0)
    mu = total / n
    sigma = torch.zeros(d, d, dtype=torch.float64, device=device)
    for start in range(0, n, chunk):
        centred = features[start : start + chunk].to(torch.float64) - mu
        sigma.addmm_(centred.T, centred)
    return mu, sigma / (n - 1)


def _to_float64(x: ArrayLike, device: torch.device) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.detach().to(device=device, dtype=torch.float64)


def _psd_sqrt(sigma: torch.Tensor) -> torch.Tensor:
    """Symmetric square root U·diag(√λ)·Uᵀ of a covariance.

    Negative eigenvalues would make the principal root imaginary: as pytorch-fid does for sqrtm's result,
    imaginary diagonal entries up to 1e-3 (rounding) are dropped by taking the real part, larger ones raise."""
    lam, vec = torch.linalg.eigh((sigma + sigma.T) / 2)
    imaginary_diag = (vec.square() @ (-lam).clamp_min(0).sqrt()).abs().max()
    if imaginary_diag > IMAGINARY_ATOL:
        raise ValueError(f"Imaginary component {imaginary_diag.item()}")
    return (vec * lam.clamp_min(0).sqrt()) @ vec.T


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """Tr √(Σ1 Σ2) for covariances Σ1, Σ2 (float64, same device).

    Σ1Σ2 is similar to Σ1^½ Σ2 Σ1^½ = A Aᵀ with A = Σ1^½ Σ2^½, so its eigenvalues are the squared singular
    values of A and Tr √(Σ1Σ2) = ‖A‖_* (nuclear norm). Why this form: the eigenvalues of the
    non-symmetric product (`eigvals`, as torchmetrics does, or SciPy's Schur-based sqrtm) can be
    ill-conditioned and turn complex; `eigh` of A Aᵀ is backward stable but squares A, so an eigenvalue
    error of ε‖Σ‖² becomes √ε‖Σ‖ per near-null direction after the square root; the singular values of A
    are accurate to ε‖A‖ absolutely, which matters for rank-deficient covariances (fewer samples than dims)
    whose hundreds of null directions would otherwise each add ~1e-8‖Σ‖ of noise."""
    a = _psd_sqrt(sigma1) @ _psd_sqrt(sigma2)
    return torch.linalg.svdvals(a).sum()


def frechet_distance(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike, eps: float = 1e-6
) -> float:
    """‖μ1 − μ2‖² + Tr Σ1 + Tr Σ2 − 2 Tr √(Σ1Σ2), as pytorch-fid's `calculate_frechet_distance`.

    Like it: if the square root fails (here: a decomposition does not converge or is not finite) ε·I is added
    to both covariances for the square root only, with a warning, and imaginary parts above 1e-3 raise
    ValueError. Runs on the device of the first torch input (CPU for numpy inputs)."""
    device = next((x.device for x in (sigma1, mu1, sigma2, mu2) if isinstance(x, torch.Tensor)), torch.device("cpu"))
    mu1, mu2 = (torch.atleast_1d(_to_float64(m, device)) for m in (mu1, mu2))
    sigma1, sigma2 = (torch.atleast_2d(_to_float64(s, device)) for s in (sigma1, sigma2))
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors have different lengths: {tuple(mu1.shape)} and {tuple(mu2.shape)}")
    if sigma1.shape != sigma2.shape:
        raise ValueError(f"covariances have different dimensions: {tuple(sigma1.shape)} and {tuple(sigma2.shape)}")
    if sigma1.shape != (mu1.shape[0], mu1.shape[0]):
        raise ValueError(f"covariance {tuple(sigma1.shape)} does not match mean {tuple(mu1.shape)}")
    for name, t in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} has non-finite values")

    diff = mu1 - mu2
    try:
        tr_covmean = trace_sqrt_product(sigma1, sigma2)
        ok = bool(torch.isfinite(tr_covmean))
    except torch.linalg.LinAlgError:
        ok = False
    if not ok:
        warnings.warn(
            f"fid calculation produces singular product; adding {eps} to diagonal of cov estimates",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = torch.eye(sigma1.shape[0], dtype=torch.float64, device=device) * eps
        tr_covmean = trace_sqrt_product(sigma1 + offset, sigma2 + offset)
    return float(diff.dot(diff) + sigma1.trace() + sigma2.trace() - 2 * tr_covmean)
