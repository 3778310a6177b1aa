"""Paths through latent and condition space for `cgan interp`: lerp, slerp, keyframe sequences."""

from __future__ import annotations

import torch

MODES = ("slerp", "lerp")


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents): keeps Gaussian latents at a
    typical norm, where linear blends pass through the low-norm middle the generator rarely saw."""
    a64, b64 = a.double(), b.double()  # float64: the angle of near-(anti)parallel vectors is all rounding
    norms = a64.norm() * b64.norm()
    if float(norms) < 1e-12:  # a zero latent (truncation ψ = 0) has no direction
        return lerp(a, b, t)
    omega = torch.arccos(torch.clamp((a64 * b64).sum() / norms, -1.0, 1.0))
    s = torch.sin(omega)
    if float(s) < 1e-6:  # (anti)parallel: the great circle is undefined or degenerate; lerp is the limit
        return lerp(a, b, t)
    wa, wb = torch.sin((1 - t) * omega) / s, torch.sin(t * omega) / s
    return (wa * a64 + wb * b64).to(a.dtype)


def path(keys: torch.Tensor, steps: int, loop: bool = False, mode: str = "lerp") -> torch.Tensor:
    """(K, D) keyframes → (F, D) frames: `steps` frames from each keyframe towards the next, then the last
    keyframe (or, with `loop`, back to the first so the sequence repeats seamlessly)."""
    if mode not in MODES:
        raise ValueError(f"unknown interpolation {mode!r}; choose from {', '.join(MODES)}")
    blend = slerp if mode == "slerp" else lerp
    pairs = list(zip(keys, keys[1:]))
    if loop:
        pairs.append((keys[-1], keys[0]))
    frames = [blend(a, b, j / steps) for a, b in pairs for j in range(steps)]
    if not loop:
        frames.append(keys[-1])
    return torch.stack(frames)
