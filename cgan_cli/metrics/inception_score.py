"""Inception Score (Salimans et al. 2016): exp E_x KL(p(y|x) ‖ p(y)), with p(y) the marginal of each split,
as torch-fidelity's `isc_features_to_metric` on its `logits_unbiased` feature (softmax over the 1008 logits,
in float64; isc_splits 10; mean and population std over the splits).

torch-fidelity shuffles the samples first with `np.random.RandomState(rng_seed).permutation(N)` (its defaults
`samples_shuffle=True, rng_seed=2020`); `seed=2020` here reproduces that, `seed=None` keeps the given order
(the original OpenAI code's behaviour).
"""

from __future__ import annotations

import numpy as np
import torch

TORCH_FIDELITY_SEED = 2020


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int | None = None) -> tuple[float, float]:
    """(mean, std) of the per-split scores; split i holds samples [i·N//splits, (i+1)·N//splits)."""
    if logits.dim() != 2:
        raise ValueError(f"logits must be (N, classes), got shape {tuple(logits.shape)}")
    n = logits.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"the Inception Score needs at least one sample per split: {n} samples, {splits} splits")
    if seed is not None:
        logits = logits[torch.from_numpy(np.random.RandomState(seed).permutation(n)).to(logits.device)]
    logits = logits.to(torch.float64)
    p = logits.softmax(dim=1)
    log_p = logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        part = slice(i * n // splits, (i + 1) * n // splits)
        p_part, log_p_part = p[part], log_p[part]
        q = p_part.mean(dim=0, keepdim=True)
        # 0·log 0 = 0: a class whose probability underflows everywhere in a split adds nothing (torch-fidelity: NaN)
        kl = torch.where(p_part > 0, p_part * (log_p_part - q.log()), 0.0)
        scores.append(kl.sum(dim=1).mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))
