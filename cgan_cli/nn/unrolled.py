"""The look-ahead discriminator of unrolled GANs (Metz, Poole, Pfau & Sohl-Dickstein, ICLR 2017): G's loss
is taken against D after K further steps of D's own optimiser, so G is judged by where D is going, not
where it is, which discourages G from hopping between modes. The K steps run on a deep copy of D and of
its optimiser state; the real D and its optimiser are untouched.

This is the first-order form (as the common PyTorch re-implementations): G's gradient is taken through
the unrolled D's forward pass, not through the K optimiser steps themselves (Metz et al.'s second term,
∂θ_D^K/∂θ_G, which needs K nested double-backward passes and is dropped)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn


def look_ahead(
    D: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: Callable[[nn.Module], torch.Tensor],
    steps: int,
    after_step: Callable[[nn.Module], None] | None = None,
) -> nn.Module:
    """A copy of D after `steps` updates minimising `loss(D_copy)` with a copy of `optimizer`'s rule and state,
    each followed by `after_step(D_copy)` (WGAN's weight clipping): D's own step, on the copy."""
    ahead = copy.deepcopy(D).requires_grad_(True)
    opt = type(optimizer)(ahead.parameters(), **optimizer.defaults)
    opt.load_state_dict(optimizer.state_dict())  # copies the state (Adam's moments, step counts) and lr
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss(ahead).backward()
        opt.step()
        if after_step is not None:
            after_step(ahead)
    return ahead.requires_grad_(False)
