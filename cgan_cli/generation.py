"""Images from a sampling checkpoint: seeds → latents → images, shared by `sample`, `interp` and `eval`.

A seed alone fixes its latent (drawn on the CPU from its own generator), so an image depends on its
seed and class only: not on the batch it was made in, the batch size, the order, or the device. InfoGAN's
codes are drawn from their priors by the same generator after the noise, each whether fixed or not (`--code
c0=3` replaces a draw, and changes no other), so a seed and the fixed codes alone fix its image too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from cgan_cli.config.infogan import Code
from cgan_cli.errors import UsageError
from cgan_cli.families import SampleOptions
from cgan_cli.families.base import Sampler, TextSampler, open_checkpoint
from cgan_cli.nn.codes import code_vector, draw_codes

MAX_SEED = 2**32 - 1


def open_sampler(path: Path, device: torch.device, options: SampleOptions = SampleOptions()) -> Sampler:
    """The generator of a checkpoint, rebuilt from the file alone (only its G weights are read)."""
    cls, ckpt = open_checkpoint(path)
    return cls.sampler(ckpt, device, options)


def open_text_sampler(path: Path, device: torch.device, options: SampleOptions = SampleOptions()) -> TextSampler:
    """The generator and text encoder of a text-to-image checkpoint, rebuilt from the file alone."""
    cls, ckpt = open_checkpoint(path)
    return cls.text_sampler(ckpt, device, options)


def parse_seeds(text: str) -> list[int]:
    """`0-63,100` → [0, …, 63, 100]; order kept, duplicates allowed (they give the same image)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise UsageError(f"--seeds: {part!r} is not a seed or a range like 0-63")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise UsageError(f"--seeds: range {part} runs backwards")
        if hi > MAX_SEED:
            raise UsageError(f"--seeds: {hi} is above the largest seed {MAX_SEED}")
        if hi - lo >= 1_000_000:
            raise UsageError(f"--seeds: range {part} is over a million images")
        seeds.extend(range(lo, hi + 1))
    return seeds


def latent(seed: int, z_dim: int) -> torch.Tensor:
    """The latent of one seed: N(0, I) from a CPU generator seeded with it alone."""
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))


def latents(sampler: Sampler, seeds: Sequence[int], fixed: Mapping[int, float] | None = None,
            psi: float = 1.0) -> torch.Tensor:  # fmt: skip
    """G's latent inputs (N, z_dim + code dim) for seeds: each seed's noise (`latent`) scaled by ψ, then, for
    InfoGAN, its codes: each drawn from its prior after the noise by the seed's generator (a category uniformly,
    a continuous code uniformly in (-1, 1)), in the layout's order, unless `fixed` (code index → value) sets it."""
    if not sampler.codes:
        return truncate(torch.stack([latent(s, sampler.z_dim) for s in seeds]), psi)
    fixed = fixed or {}
    rows = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(sampler.z_dim, generator=g)
        drawn = draw_codes(sampler.codes, 1, g)
        values = [torch.tensor([fixed[i]], dtype=d.dtype) if i in fixed else d for i, d in enumerate(drawn)]
        rows.append(torch.cat([truncate(z, psi), code_vector(sampler.codes, values, z.dtype)[0]]))
    return torch.stack(rows)


def parse_codes(texts: Iterable[str], sampler: Sampler) -> dict[int, float]:
    """`--code c0=3 --code c2=-0.5` → {code index: value}, checked against the checkpoint's codes."""
    texts = list(texts)
    if texts and not sampler.codes:
        raise UsageError("--code: this checkpoint has no latent codes (an infogan checkpoint has)")
    names = {c.name: i for i, c in enumerate(sampler.codes)}
    fixed: dict[int, float] = {}
    for text in texts:
        name, eq, value = (part.strip() for part in text.partition("="))
        if not eq or not value:
            raise UsageError(f"--code {text!r}: write NAME=VALUE, e.g. c0=3")
        if name not in names:
            raise UsageError(f"--code {text!r}: this checkpoint's codes are {', '.join(names)}")
        i = names[name]
        if i in fixed:
            raise UsageError(f"--code: {name} is given twice")
        fixed[i] = code_value(sampler.codes[i], value, f"--code {text!r}")
    return fixed


def code_value(code: Code, text: str, where: str) -> float:
    """A categorical code's category (an integer below its count) or a continuous code's finite value."""
    if code.kind == "categorical":
        if not text.isdigit() or int(text) >= code.categories:
            raise UsageError(f"{where}: {code.name} is a category 0 … {code.categories - 1}")
        return int(text)
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise UsageError(f"{where}: {code.name} is continuous: give a number such as 0.5")
    return number


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick in z-space: pull z towards the mean latent (0) by ψ, as StyleGAN does with w̄."""
    return z * psi


def resolve_class(text: str, names: tuple[str, ...]) -> int:
    """A class given by name or by index."""
    if not names:
        raise UsageError("--class: this checkpoint is unconditional (it has no classes)")
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(names):
        return int(text)
    shown = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
    raise UsageError(f"--class {text!r}: not a class of this checkpoint ({shown}) nor an index below {len(names)}")


def resolve_classes(values: Iterable[str], names: tuple[str, ...]) -> list[int]:
    values = list(values)
    if "all" in values and "all" not in names:
        if len(values) > 1:
            raise UsageError("--class all cannot be combined with other classes")
        if not names:
            raise UsageError("--class: this checkpoint is unconditional (it has no classes)")
        return list(range(len(names)))
    return list(dict.fromkeys(resolve_class(v, names) for v in values))  # a class named twice is one class


@dataclass(frozen=True)
class Item:
    seed: int
    label: int | None  # None: unconditional

    def rel_path(self, names: tuple[str, ...], ext: str = ".png") -> Path:
        name = f"seed{self.seed:06d}{ext}"
        return Path(names[self.label]) / name if self.label is not None else Path(name)


def plan(seeds: list[int], labels: list[int], names: tuple[str, ...]) -> list[Item]:
    """What to make: every seed for every requested class (class-major, so a grid row is a class). Without
    --class, a conditional model gives seed s the class s mod K, so any seed range covers every class."""
    if not names:
        return [Item(s, None) for s in seeds]
    if not labels:
        return [Item(s, s % len(names)) for s in seeds]
    return [Item(s, c) for c in labels for s in seeds]


@torch.no_grad()
def generate(
    sampler: Sampler, items: list[Item], device: torch.device, batch_size: int = 32, psi: float = 1.0,
    codes: Mapping[int, float] | None = None,
) -> Iterator[tuple[Item, torch.Tensor]]:
    """(item, image (C, H, W) in [-1, 1] on the CPU) in order, made `batch_size` at a time in fp32; `codes`
    fixes InfoGAN codes (`parse_codes`)."""
    with full_precision():
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            z = latents(sampler, [it.seed for it in chunk], codes, psi).to(device)
            labels = torch.tensor([it.label or 0 for it in chunk], device=device)
            images = sampler.net(z, sampler.class_vector(labels)).float().cpu()
            yield from zip(chunk, images)


@torch.no_grad()
def render(sampler: Sampler, z: torch.Tensor, cond: torch.Tensor, device: torch.device, batch_size: int = 32):
    """Images for given latents and condition vectors (interpolation frames), `batch_size` at a time."""
    with full_precision():
        for i in range(0, len(z), batch_size):
            yield from sampler.net(z[i : i + batch_size].to(device), cond[i : i + batch_size].to(device)).float().cpu()


class full_precision:
    """TF32 convolutions on Ampere+ would change pixels between devices: keep sampling in true fp32."""

    def __enter__(self) -> None:
        self.saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False

    def __exit__(self, *exc: object) -> None:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = self.saved
