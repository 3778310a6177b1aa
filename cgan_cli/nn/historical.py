"""Historical averaging (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.3), as torchgan's
`HistoricalAverageGeneratorLoss` defines it: the penalty λ·Σ‖θ − (1/t)·Σᵢ θᵢ‖² pulls each network towards
the mean of its own past parameters, which damps the orbits of non-converging games. The running sum and
count are buffers of a module, so they travel in every checkpoint and a resumed run stays exact; the
training step (cgan_cli/families/latent.py) adds the penalty to its losses.
"""

from __future__ import annotations

import torch
from torch import nn


class HistoricalAverage(nn.Module):
    """The sum of a network's past parameters and how many there were."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        params = [p.detach() for p in model.parameters()]
        for i, p in enumerate(params):
            self.register_buffer(f"sum{i}", torch.zeros_like(p))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def penalty(self, model: nn.Module, weight: float) -> torch.Tensor:
        """weight · Σ‖θ − mean of past θ‖² (0 before any θ is recorded), then θ joins the past: call once per
        update, before the optimiser steps, as torchgan does."""
        loss = self.distance(model, weight)
        with torch.no_grad():
            torch._foreach_add_(self._sums(model), [p.detach() for p in model.parameters()])
            self.count += 1
        return loss

    def distance(self, model: nn.Module, weight: float) -> torch.Tensor:
        """The penalty of `model` (a copy of the network, say) without recording its θ in the past."""
        params = list(model.parameters())
        count = self.count.clamp(min=1).to(params[0].dtype)
        total = sum(((p - s / count) ** 2).sum() for p, s in zip(params, self._sums(model)))
        return weight * total * (self.count > 0)  # no host sync on the count: zero on the first update

    def _sums(self, model: nn.Module) -> list[torch.Tensor]:
        params = list(model.parameters())
        names = [f"sum{i}" for i in range(len(params))]
        same = all(hasattr(self, n) and getattr(self, n).shape == p.shape for n, p in zip(names, params))
        if not same or hasattr(self, f"sum{len(params)}"):
            raise ValueError("HistoricalAverage got a model with other parameters")
        return [getattr(self, n) for n in names]
