"""DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020),
faithful to mit-han-lab/data-efficient-gans `DiffAugment_pytorch.py`.

D only ever sees augmented images, so it cannot memorise a small training set, and because every
augmentation is differentiable G still gets a useful gradient through it. The GAN applies `diff_augment`
with the same policy to real and fake images alike, both in D's step and in G's step (the paper shows
that augmenting only the reals, or only D's step, breaks training), each call with its own independent
draws, as the reference does. The reference defaults: `color` (brightness + U[−0.5, 0.5), saturation
× U[0, 2) around the per-pixel channel mean, contrast × U[0.5, 1.5) around the per-image mean),
`translation` (integer shifts up to 1/8 of each side, zero fill) and `cutout` (one zeroed square of half
the side per image, which may be clipped by the border); the paper's recommended policy is all three.

Every draw is made per operation for the whole batch at once, in the reference's order and shapes:
brightness, saturation, contrast (`rand`, (N, 1, 1, 1), x's dtype), then the row shift and the column
shift (`randint`, (N, 1, 1)), then the cutout's row and column centre (`randint`, (N, 1, 1)); with no
generator the global RNG is used, exactly as the reference does. So identical images in one batch are
augmented independently, and a batch's draws depend on its size: augmenting a batch in one call is not
the same as augmenting its halves in two calls. Everything is vectorised (no loop over the batch) and
makes no host-device synchronisation, so it is safe inside a CUDA training step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from cgan_cli.config.choices import policy_name

TRANSLATION_RATIO = 0.125  # the reference's `rand_translation(ratio=0.125)`
CUTOUT_RATIO = 0.5  # the reference's `rand_cutout(ratio=0.5)`


def _rand(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device, generator=generator)


def _randint(low: int, high: int, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Integers in [low, high) of shape (N, 1, 1), as the reference draws them (then viewed as (N, 1, 1, 1))."""
    draws = torch.randint(low, high, (x.shape[0], 1, 1), device=x.device, generator=generator)
    return draws.unsqueeze(1)


def _side(length: int, ratio: float) -> int:
    """The reference's rounding, `int(length * ratio + 0.5)` (half up): 17 → 9 for the cutout, 20 → 3 for shifts."""
    return int(length * ratio + 0.5)


def rand_brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add U[−0.5, 0.5) to every pixel of each image."""
    return x + (_rand(x, generator) - 0.5)


def rand_saturation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scale each pixel's distance to its channel mean by U[0, 2) (a no-op for one channel)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x, generator) * 2) + mean


def rand_contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scale each image's distance to its mean (over channels and pixels) by U[0.5, 1.5)."""
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x, generator) + 0.5) + mean


def rand_translation(
    x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = TRANSLATION_RATIO
) -> torch.Tensor:
    """out[i, j] = x[i + dy, j + dx] (zero outside) with integer dy, dx uniform in ±round(ratio · side) per image.

    The reference pads by one zero pixel and gathers at clamped indices, so every out-of-range read
    lands on the zero border; two separable gathers (rows, then columns) do the same.
    """
    n, c, h, w = x.shape
    max_dy, max_dx = _side(h, ratio), _side(w, ratio)
    dy = _randint(-max_dy, max_dy + 1, x, generator)
    dx = _randint(-max_dx, max_dx + 1, x, generator)
    padded = F.pad(x, [1, 1, 1, 1])
    rows = (torch.arange(h, device=x.device).view(1, 1, h, 1) + dy + 1).clamp(0, h + 1)
    padded = padded.gather(2, rows.expand(n, c, h, w + 2))
    cols = (torch.arange(w, device=x.device).view(1, 1, 1, w) + dx + 1).clamp(0, w + 1)
    return padded.gather(3, cols.expand(n, c, h, w))


def rand_cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Zero one round(ratio·H) × round(ratio·W) rectangle per image, clipped by the border, as the reference does.

    The centre is uniform over [0, H − (size_h mod 2)] (likewise for columns) and the rectangle spans
    rows centre − size_h//2 … centre − size_h//2 + size_h − 1, so at least half of it is always inside.
    """
    _, _, h, w = x.shape
    size_h, size_w = _side(h, ratio), _side(w, ratio)
    top = _randint(0, h + (1 - size_h % 2), x, generator) - size_h // 2
    left = _randint(0, w + (1 - size_w % 2), x, generator) - size_w // 2
    rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, 1, w)
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~inside).to(x.dtype)


AUGMENT_FNS: dict[str, tuple[Callable[..., torch.Tensor], ...]] = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply `policy`'s augmentations in order to an (N, C, H, W) batch; differentiable w.r.t. `x`.

    `generator`, when given, must live on x's device and supplies every random draw (see the module
    docstring for their order); the same generator state gives the same output.
    """
    if isinstance(policy, str):
        raise TypeError("diff_augment takes a tuple of policy names; use parse_policy() for a comma-separated string")
    if x.dim() != 4:
        raise ValueError(f"diff_augment expects an (N, C, H, W) batch, got shape {tuple(x.shape)}")
    for name in policy:
        for fn in AUGMENT_FNS[policy_name(name)]:
            x = fn(x, generator)
    return x.contiguous() if policy else x
