"""The `cgan interp` service: paths through latent and condition space (lerp, slerp, keyframe sequences),
the walks between seeds, classes, StarGAN labels, BicycleGAN latents of one image and prompts, InfoGAN's sweep
of one latent code (a row per seed, a column per code value), and writing their frames (numbered files, an
animated GIF, a contact sheet) in order. Parsing the flags is the CLI's; making an image is the family's sampler
or translator."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from cgan_cli.config.inference import MODES
from cgan_cli.config.infogan import Code
from cgan_cli.console import info
from cgan_cli.data.classes import resize_and_centre_crop
from cgan_cli.data.grid import grid
from cgan_cli.data.io import (
    image_to_uint8_tensor,
    normalise,
    read_image,
    save_animation,
    save_image,
    to_tensor,
    write_format,
)
from cgan_cli.device import resolve_device
from cgan_cli.errors import UsageError
from cgan_cli.families import SampleOptions, TranslateOptions
from cgan_cli.families.base import checkpoint_makes, open_checkpoint
from cgan_cli.generation import (
    code_value,
    full_precision,
    latent,
    latents,
    open_sampler,
    open_text_sampler,
    parse_codes,
    parse_seeds,
    render,
    resolve_class,
)
from cgan_cli.sampling import Written
from cgan_cli.text.features import mix, take, to
from cgan_cli.translation import pad_to_multiple

MAX_FRAMES = 10_000


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


@dataclass(frozen=True)
class Walk:
    """What `cgan interp` walks between: seeds, classes, a StarGAN image's labels, or prompts."""

    seeds: str | None = None
    classes: str | None = None
    seed: int | None = None  # held fixed while classes or prompts blend
    class_: str | None = None  # held fixed while seeds walk
    steps: int = 16
    mode: str = "slerp"
    loop: bool = False
    truncation: float = 1.0
    image: Path | None = None  # StarGAN: the input whose label blends from `source` to `target`
    source: str | None = None
    target: str | None = None
    texts: tuple[str, ...] | None = None
    options: SampleOptions = SampleOptions()
    batch_size: int = 64
    device: str = "auto"
    walk: str | None = None  # InfoGAN: the code to sweep (c0, c1, …); the rows are --seeds
    range: str | None = None  # "LO,HI" for a continuous code's sweep
    codes: tuple[str, ...] = ()  # InfoGAN: codes held fixed, NAME=VALUE


@dataclass(frozen=True)
class Frames:
    """Where the frames go: numbered files, an animated GIF, a contact sheet."""

    out_dir: Path | None = None
    gif: Path | None = None
    grid: Path | None = None
    duration: int = 80  # GIF frame duration, ms

    def check(self) -> None:
        if self.out_dir is None and self.gif is None and self.grid is None:
            raise UsageError("nothing to write: give --out DIR, --gif FILE and/or --grid FILE")
        if self.grid is not None:
            write_format(self.grid)
        if self.gif is not None and self.gif.suffix.lower() != ".gif":
            raise UsageError(f"--gif {self.gif}: the file name must end in .gif")


def interpolate(checkpoint: Path, walk: Walk, frames: Frames) -> Iterator[Written]:
    """Every file written, in order: frames, then the GIF and the contact sheet."""
    frames.check()
    if walk.walk is not None:
        return _code_sheet(checkpoint, walk, frames)
    if walk.range is not None:
        raise UsageError("--range is the span of a --walk CODE sweep: give --walk too")
    if walk.image is not None and walk.source is None and walk.target is None:
        stream = _image_latent_walk(checkpoint, walk)
    elif walk.image is not None or walk.source is not None or walk.target is not None:
        stream = _label_walk(checkpoint, walk)
    elif walk.texts is not None or checkpoint_makes(checkpoint) == "text":
        stream = _text_walk(checkpoint, walk)
    else:
        stream = _latent_walk(checkpoint, walk)
    return _write(stream, frames, walk.steps)


def _write(stream: Iterable[torch.Tensor], frames: Frames, steps: int) -> Iterator[Written]:
    made: list[torch.Tensor] = []
    for i, frame in enumerate(stream):
        made.append(frame)
        if frames.out_dir is not None:
            yield Written(save_image(frame, frames.out_dir / f"frame-{i:05d}.png"), {"frame": i})
    if frames.gif is not None:
        yield Written(save_animation(made, frames.gif, frames.duration, loop=True), {"kind": "gif"})
    if frames.grid is not None:
        cols = min(steps, len(made))
        rows = [made[i : i + cols] for i in range(0, len(made), cols)]
        yield Written(save_image(grid(rows), frames.grid), {"kind": "grid"})


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)} (got {mode!r})")


def _check_frames(keys: int, steps: int, loop: bool) -> None:
    frames = steps * (keys if loop else keys - 1) + (0 if loop else 1)
    if frames > MAX_FRAMES:
        raise UsageError(f"{frames} frames is more than {MAX_FRAMES}: use fewer --steps or keyframes")


def _keyframe_seeds(walk: Walk) -> list[int]:
    keys = parse_seeds(walk.seeds or "")
    if len(keys) < 2:
        raise UsageError("--seeds: an interpolation needs at least 2 keyframe seeds")
    _check_frames(len(keys), walk.steps, walk.loop)
    return keys


def _latent_walk(checkpoint: Path, walk: Walk) -> Iterator[torch.Tensor]:
    """Through z between keyframe seeds (at a fixed class), or through class vectors at a fixed seed."""
    if (walk.seeds is None) == (walk.classes is None):
        raise UsageError("give --seeds (walk between latents) or --classes (walk between classes), one of them")
    _check_mode(walk.mode)
    dev = resolve_device(walk.device)
    sampler = open_sampler(checkpoint, dev, SampleOptions(ema=walk.options.ema))
    names = sampler.class_names
    if walk.seeds is not None:
        keys = _keyframe_seeds(walk)
        if walk.seed is not None:
            raise UsageError("--seed goes with --classes; with --seeds the seeds are the keyframes")
        if walk.class_ is not None and not names:
            raise UsageError("--class: this checkpoint is unconditional (it has no classes)")
        # the class `cgan sample` gives the first seed, unless told otherwise
        label = resolve_class(walk.class_, names) if walk.class_ is not None else keys[0] % max(1, len(names))
        keyframes = latents(sampler, keys, parse_codes(walk.codes, sampler), walk.truncation)
        z = path(keyframes, walk.steps, walk.loop, walk.mode)
        cond = sampler.class_vector(torch.full((len(z),), label, device=dev)).cpu()
        what = f"seeds {', '.join(map(str, keys))}"
    else:
        if not names:
            raise UsageError("--classes: this checkpoint is unconditional (it has no classes)")
        if walk.class_ is not None:
            raise UsageError("--class goes with --seeds; with --classes the class is what changes")
        labels = [resolve_class(c.strip(), names) for c in (walk.classes or "").split(",") if c.strip()]
        if len(labels) < 2:
            raise UsageError("--classes: an interpolation needs at least 2 keyframe classes")
        _check_frames(len(labels), walk.steps, walk.loop)
        with torch.no_grad():
            vectors = sampler.class_vector(torch.tensor(labels, device=dev)).float().cpu()
        cond = path(vectors, walk.steps, walk.loop, "lerp")
        seed = walk.seed or 0
        z = latents(sampler, [seed], parse_codes(walk.codes, sampler), walk.truncation)[0].expand(len(cond), -1)
        what = f"classes {', '.join(names[i] for i in labels)} at seed {seed}"
    info(f"interpolating {len(z)} frames between {what}")
    yield from render(sampler, z, cond, dev, walk.batch_size)


DEFAULT_RANGE = (-2.0, 2.0)  # the paper's figures sweep continuous codes beyond their prior's (-1, 1)


def _code_sheet(checkpoint: Path, walk: Walk, frames: Frames) -> Iterator[Written]:
    """InfoGAN's classic figure: one continuous code swept over `--range` in `--steps` values (or a categorical
    code through its categories), a row per seed of `--seeds` (default 0), the other codes drawn per seed as
    `cgan sample` draws them unless `--code` fixes them; frames row by row."""
    if walk.classes is not None or walk.seed is not None or walk.loop:
        raise UsageError("--walk sweeps a code with a row per --seeds seed; --classes, --seed and --loop do not apply")
    dev = resolve_device(walk.device)
    sampler = open_sampler(checkpoint, dev, SampleOptions(ema=walk.options.ema))
    if not sampler.codes:
        raise UsageError("--walk: this checkpoint has no latent codes (an infogan checkpoint has)")
    names = [c.name for c in sampler.codes]
    if walk.walk not in names:
        raise UsageError(f"--walk {walk.walk!r}: this checkpoint's codes are {', '.join(names)}")
    index = names.index(walk.walk)
    code = sampler.codes[index]
    fixed = parse_codes(walk.codes, sampler)
    if index in fixed:
        raise UsageError(f"--walk {code.name} is also fixed by --code; fix only the other codes")
    if code.kind == "categorical":
        if walk.range is not None:
            raise UsageError(f"--range: {code.name} is categorical; its walk steps through its {code.categories} "
                             "categories")  # fmt: skip
        values = [float(k) for k in range(code.categories)]
    else:
        lo, hi = _parse_range(walk.range, code)
        values = torch.linspace(lo, hi, walk.steps, dtype=torch.float64).tolist()
    seeds = parse_seeds(walk.seeds or "0")
    if len(seeds) * len(values) > MAX_FRAMES:
        raise UsageError(f"{len(seeds) * len(values)} frames is more than {MAX_FRAMES}: use fewer --steps or seeds")
    class_names = sampler.class_names
    if walk.class_ is not None and not class_names:
        raise UsageError("--class: this checkpoint is unconditional (it has no classes)")
    z = torch.stack([latents(sampler, [s], {**fixed, index: v}, walk.truncation)[0] for s in seeds for v in values])
    fixed_label = resolve_class(walk.class_, class_names) if walk.class_ is not None else None
    labels = [fixed_label if fixed_label is not None else s % max(1, len(class_names)) for s in seeds]
    cond = sampler.class_vector(torch.tensor(labels, device=dev).repeat_interleave(len(values))).cpu()
    info(f"sweeping {code.name} over {len(values)} values for seeds {', '.join(map(str, seeds))}")
    yield from _write(render(sampler, z, cond, dev, walk.batch_size), frames, len(values))


def _parse_range(text: str | None, code: Code) -> tuple[float, float]:
    if text is None:
        return DEFAULT_RANGE
    parts = text.split(",")
    if len(parts) != 2:
        raise UsageError(f"--range {text!r}: give LO,HI such as -2,2")
    lo, hi = (code_value(code, p.strip(), f"--range {text!r}") for p in parts)
    return lo, hi


def _label_walk(checkpoint: Path, walk: Walk) -> Iterator[torch.Tensor]:
    """StarGAN's hook: one input image, its target label blended from --from to --to."""
    if None in (walk.image, walk.source, walk.target) or walk.seeds is not None or walk.classes is not None:
        raise UsageError("a label walk takes CKPT IMAGE --from LABEL --to LABEL (and not --seeds/--classes)")
    dev = resolve_device(walk.device)
    cls, ckpt = open_checkpoint(checkpoint)
    model = cls.label_translator(ckpt, dev)
    _check_frames(2, walk.steps, walk.loop)
    labels = path(torch.stack([model.encode(walk.source), model.encode(walk.target)]), walk.steps, walk.loop, "lerp")
    x = to_tensor(resize_and_centre_crop(read_image(walk.image, model.channels), model.image_size))[None].to(dev)
    info(f"interpolating {len(labels)} frames of {walk.image} from {walk.source} to {walk.target}")
    with torch.no_grad():
        for label in labels:
            yield model.net(x, label[None].to(dev))[0].float().cpu()


def _image_latent_walk(checkpoint: Path, walk: Walk) -> Iterator[torch.Tensor]:
    """BicycleGAN's hook: one input image at its own size, z walked between keyframe seeds; a seed's frame is
    what `cgan translate --seeds` makes of it. Families whose translator takes no z go on to the label walk."""
    dev = resolve_device(walk.device)
    cls, ckpt = open_checkpoint(checkpoint)
    if not cls.takes_latent(ckpt):
        if walk.seeds is not None:
            raise UsageError(f"--seeds: this {cls.name} checkpoint takes no latent z to walk (bicyclegan and spade "
                             "--use-vae do)")  # fmt: skip
        yield from _label_walk(checkpoint, walk)
        return
    if walk.seeds is None or walk.classes is not None or walk.seed is not None or walk.class_ is not None:
        raise UsageError("a latent walk of one image takes CKPT IMAGE --seeds A,B,… (not --classes, --seed or "
                         "--class)")  # fmt: skip
    model = cls.translator(ckpt, dev, TranslateOptions())
    _check_mode(walk.mode)
    keys = _keyframe_seeds(walk)
    z = path(torch.stack([latent(s, model.z_dim) for s in keys]), walk.steps, walk.loop, walk.mode)
    if model.read_labels is not None:  # SPADE's label maps
        stored = model.read_labels(walk.image, None)
    else:
        stored = image_to_uint8_tensor(read_image(walk.image, model.in_channels))
    x = normalise(stored)[None]
    h, w = x.shape[-2:]
    x = pad_to_multiple(x, model.multiple, model.min_side).to(dev)
    info(f"interpolating {len(z)} frames of {walk.image} between seeds {', '.join(map(str, keys))}")
    with torch.no_grad(), full_precision():
        for i in range(0, len(z), walk.batch_size):
            chunk = z[i : i + walk.batch_size].to(dev)
            yield from model.with_z(x.expand(len(chunk), -1, -1, -1), chunk)[..., :h, :w].float().cpu()


def _text_walk(checkpoint: Path, walk: Walk) -> Iterator[torch.Tensor]:
    """Text-to-image: blend prompts' text features at a fixed seed (GAN-INT), or walk through z at one prompt."""
    if walk.classes is not None or walk.class_ is not None:
        raise UsageError("--classes/--class: a text-to-image checkpoint is steered by --text prompts")
    _check_mode(walk.mode)
    texts = list(walk.texts or ())
    dev = resolve_device(walk.device)
    if walk.seeds is not None:
        if len(texts) != 1:
            raise UsageError("--seeds on a text-to-image checkpoint walks at one fixed prompt: give exactly one --text")
        if walk.seed is not None:
            raise UsageError("--seed goes with several --text; with --seeds the seeds are the keyframes")
        keys = _keyframe_seeds(walk)
        sampler = open_text_sampler(checkpoint, dev, walk.options)
        z = path(torch.stack([latent(s, sampler.z_dim) for s in keys]), walk.steps, walk.loop, walk.mode)
        text = take(sampler.encode(texts), [0] * len(z))
        what = f"seeds {', '.join(map(str, keys))} for {texts[0]!r}"
    else:
        if len(texts) < 2:
            raise UsageError("give 2 or more --text prompts to blend (or --seeds with one --text)")
        _check_frames(len(texts), walk.steps, walk.loop)
        sampler = open_text_sampler(checkpoint, dev, walk.options)
        keyframes = sampler.encode(texts)
        weights = path(torch.eye(len(texts), dtype=torch.float64), walk.steps, walk.loop, "lerp")  # (F, K) blends
        text = mix(keyframes, weights.to(keyframes.pooled))
        seed = walk.seed or 0
        z = latent(seed, sampler.z_dim).expand(len(weights), -1)
        what = f"{len(texts)} prompts at seed {seed}"
    info(f"interpolating {len(z)} frames between {what}")
    with torch.no_grad(), full_precision():
        for i in range(0, len(z), walk.batch_size):
            chunk = to(take(text, slice(i, i + walk.batch_size)), dev)
            yield from sampler.net(z[i : i + walk.batch_size].to(dev), chunk, walk.truncation).float().cpu()
