"""Exponential moving average of a generator's weights (Karras et al. 2018, "Progressive Growing of GANs";
StudioGAN's `Ema`): sampling from the averaged weights gives visibly better images than the last
iterate, at no training cost. Buffers (BatchNorm running statistics) are copied, not averaged, as in
StyleGAN2-ADA's `G_ema` update.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """`ema.model` is a frozen copy (eval mode, no grad) that `update` pulls towards the live model."""

    def __init__(self, model: nn.Module) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        """p_ema ← decay · p_ema + (1 − decay) · p for every parameter; buffers copied; decay 0 copies exactly."""
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        if len(ema_params) != len(params):
            raise ValueError("EMA.update got a model with a different set of parameters")
        if ema_params:
            # lerp(a, b, 1) is exactly b (torch computes b − (b − a)·(1 − w) for w ≥ 0.5), so decay 0 copies
            torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for ema_buffer, buffer in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_buffer.copy_(buffer)


def warmed_up(decay: float, step: int) -> float:
    """The decay for update number `step` (from 0): min(decay, (1 + step) / (10 + step)), TensorFlow's
    `ExponentialMovingAverage(num_updates=…)` warm-up. Without it a 0.999 average still holds 74% of the
    random initial weights after 300 steps; with it the early average follows the live model."""
    return min(decay, (1 + step) / (10 + step))
