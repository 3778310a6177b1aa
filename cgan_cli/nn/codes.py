"""InfoGAN's latent codes as G sees them: each categorical code one-hot, each continuous code as its value, in
the layout's order (cgan_cli/config/infogan.py `code_layout`: categorical codes first), after the noise. Training,
`cgan sample`/`interp` and the export graphs all build G's input here, so they cannot disagree on the layout."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from cgan_cli.config.infogan import Code


def code_dim(codes: Sequence[Code]) -> int:
    """G's extra input width: Σ categories + the number of continuous codes."""
    return sum(c.categories if c.kind == "categorical" else 1 for c in codes)


def code_vector(codes: Sequence[Code], values: Sequence[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """(N, code_dim) from one (N,) tensor per code: a category index (an integer tensor) or a continuous value."""
    parts = []
    for code, value in zip(codes, values, strict=True):
        if code.kind == "categorical":
            parts.append(F.one_hot(value.long(), code.categories).to(dtype))
        else:
            parts.append(value.to(dtype)[:, None])
    return torch.cat(parts, 1)


def draw_codes(
    codes: Sequence[Code], n: int, generator: torch.Generator | None = None, device: torch.device | None = None
) -> list[torch.Tensor]:
    """One (N,) tensor per code from its prior: a category uniformly, a continuous code uniformly in (-1, 1)."""
    return [
        torch.randint(c.categories, (n,), generator=generator, device=device) if c.kind == "categorical"
        else torch.rand(n, generator=generator, device=device) * 2 - 1
        for c in codes
    ]  # fmt: skip
