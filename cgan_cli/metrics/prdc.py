"""Manifold metrics from k-nearest-neighbour balls in feature space.

Precision / recall: Kynkäänniemi et al. 2019 (k 3): a sample is on the other set's manifold if it lies within
(≤) some sample's distance to that sample's k-th nearest neighbour, as their code, NVlabs' and torch-fidelity's
`prc`. Density / coverage: Naeem et al. 2020 (k 5), as clovaai's `prdc` package: strict < against the real
samples' k-NN radii. In both the k-NN radius counts the sample itself as its own 0th neighbour (`prdc`'s
`get_kth_value(k + 1)`, torch-fidelity's `kthvalue(k + 1)`).

Memory stays O(chunk²): distances are computed block by block (rows × columns of `chunk`), in float64
(‖x‖² + ‖y‖² − 2x·y would lose near-duplicates in float32, and TF32 matmuls would be worse), on the
features' device; squared distances are compared, which orders pairs exactly as distances do.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def _blocks(x: torch.Tensor, y: torch.Tensor, chunk: int) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """(rows, columns, squared distances) for every chunk × chunk block of x against y, row block by row block."""
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    y = y.to(x.device)
    x_sq = x.to(torch.float64).square().sum(1)
    y_sq = y.to(torch.float64).square().sum(1)
    for i in range(0, len(x), chunk):
        rows = slice(i, i + chunk)
        xb = x[rows].to(torch.float64)
        for j in range(0, len(y), chunk):
            cols = slice(j, j + chunk)
            d = x_sq[rows, None] + y_sq[None, cols] - 2 * (xb @ y[cols].to(torch.float64).T)
            yield rows, cols, d.clamp_min_(0)


def _check(real: torch.Tensor, fake: torch.Tensor, k: int) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")


def knn_radii_sq(x: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """Squared distance from each row of x to its k-th nearest neighbour in x, itself included as the 0th."""
    if len(x) < k + 1:
        raise ValueError(f"{k}-nearest-neighbour radii need at least {k + 1} samples, got {len(x)}")
    best = torch.empty(len(x), 0, dtype=torch.float64, device=x.device)
    radii = torch.empty(len(x), dtype=torch.float64, device=x.device)
    for rows, cols, d in _blocks(x, x, chunk):
        if cols.start == 0:
            best = d
        else:
            best = torch.cat([best, d], dim=1)
        best = best.topk(min(k + 1, best.shape[1]), dim=1, largest=False).values  # sorted ascending
        if cols.stop >= len(x):
            radii[rows] = best[:, k]
    return radii


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk: int = 4096) -> tuple[float, float]:
    """Precision: share of fake samples inside some real k-NN ball; recall: of real samples inside a fake one."""
    _check(real, fake, k)
    real_radii, fake_radii = knn_radii_sq(real, k, chunk), knn_radii_sq(fake.to(real.device), k, chunk)
    fake_in_real = torch.zeros(len(fake), dtype=torch.bool, device=real.device)
    real_in_fake = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    for rows, cols, d in _blocks(real, fake, chunk):
        fake_in_real[cols] |= (d <= real_radii[rows, None]).any(dim=0)
        real_in_fake[rows] |= (d <= fake_radii[None, cols]).any(dim=1)
    return fake_in_real.double().mean().item(), real_in_fake.double().mean().item()


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5, chunk: int = 4096) -> tuple[float, float]:
    """Density: real k-NN balls containing each fake sample, over k, averaged (may exceed 1); coverage: share
    of real samples whose ball contains at least one fake sample (its nearest fake is closer than its radius)."""
    _check(real, fake, k)
    real_radii = knn_radii_sq(real, k, chunk)
    balls = torch.zeros(len(fake), dtype=torch.float64, device=real.device)
    nearest_fake = torch.full((len(real),), torch.inf, dtype=torch.float64, device=real.device)
    for rows, cols, d in _blocks(real, fake, chunk):
        balls[cols] += (d < real_radii[rows, None]).sum(dim=0)
        nearest_fake[rows] = torch.minimum(nearest_fake[rows], d.min(dim=1).values)
    return (balls.mean() / k).item(), (nearest_fake < real_radii).double().mean().item()
