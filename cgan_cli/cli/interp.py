"""`cgan interp CKPT --out DIR`: walks between seeds (through z) or between classes (at a fixed seed)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import torch
import typer

from cgan_cli.checkpoint import load_checkpoint, read_metadata
from cgan_cli.cli.common import DEVICE_HELP, NoEma, Truncation, exits_cleanly
from cgan_cli.console import info, out
from cgan_cli.data.classes import resize_and_centre_crop
from cgan_cli.data.grid import grid
from cgan_cli.data.io import read_image, save_animation, save_image, to_tensor, write_format
from cgan_cli.device import resolve_device
from cgan_cli.errors import UsageError
from cgan_cli.evaluation import checkpoint_makes
from cgan_cli.families import SampleOptions, family_class
from cgan_cli.generation import (
    full_precision,
    latent,
    open_sampler,
    open_text_sampler,
    parse_seeds,
    render,
    resolve_class,
    truncate,
)
from cgan_cli.interpolation import MODES, path
from cgan_cli.text.features import mix, take, to

MAX_FRAMES = 10_000


@exits_cleanly
def interp(
    checkpoint: Annotated[
        Path, typer.Argument(help="A checkpoint of a sampling family (dcgan, cgan, acgan) or of stargan.")
    ],
    image: Annotated[
        Path | None, typer.Argument(help="StarGAN: the input image whose domain label is blended.")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Write the frames here, numbered.")] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Keyframe seeds, e.g. 1,2,3: walk through z between them.")
    ] = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help="Keyframe classes, e.g. cat,dog: blend the class at fixed --seed.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="With --classes: the seed held fixed (default 0).", min=0)
    ] = None,
    class_: Annotated[
        str | None,
        typer.Option("--class", help="With --seeds: the class held fixed (default: the first seed's, as in sample)."),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Frames from one keyframe to the next.", min=1)] = 16,
    mode: Annotated[str, typer.Option("--mode", help="slerp or lerp (latents; classes always blend linearly).")] = (
        "slerp"
    ),
    loop: Annotated[bool, typer.Option("--loop", help="Return to the first keyframe so the walk repeats.")] = False,
    gif: Annotated[Path | None, typer.Option("--gif", help="Also write an animated GIF of the frames.")] = None,
    duration: Annotated[int, typer.Option("--duration", help="GIF frame duration in milliseconds.", min=1)] = 80,
    grid_file: Annotated[Path | None, typer.Option("--grid", help="Also write the frames as a contact sheet.")] = None,
    truncation: Truncation = 1.0,
    no_ema: NoEma = False,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Frames per forward pass.", min=1)] = 64,
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
    source: Annotated[
        str | None, typer.Option("--from", help="StarGAN: the label to start from (domain, or attributes A,B).")
    ] = None,
    target: Annotated[str | None, typer.Option("--to", help="StarGAN: the label to end at.")] = None,
    texts: Annotated[
        list[str] | None,
        typer.Option(
            "--text",
            help="Text-to-image: keyframe prompts (repeat; GAN-INT at --seed), or the prompt held fixed with --seeds.",
        ),
    ] = None,
    clip_weights: Annotated[
        Path | None, typer.Option("--clip-weights", help="Text-to-image: the CLIP weights file it was trained with.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per written file.")] = False,
) -> None:
    """Interpolate. Prints each written path (frames, then the GIF and grid) on stdout."""
    outputs = _Outputs(out_dir, gif, grid_file, duration, steps, as_json)
    if image is not None or source is not None or target is not None:
        if image is None or source is None or target is None or seeds is not None or classes is not None:
            raise UsageError("a label walk takes CKPT IMAGE --from LABEL --to LABEL (and not --seeds/--classes)")
        _label_walk(checkpoint, image, source, target, steps, loop, resolve_device(device), outputs)
        return
    if texts is not None or checkpoint_makes(checkpoint) == "text":
        if classes is not None or class_ is not None:
            raise UsageError("--classes/--class: a text-to-image checkpoint is steered by --text prompts")
        options = SampleOptions(ema=not no_ema, clip_weights=str(clip_weights or ""))
        _text_walk(checkpoint, texts or [], seeds, seed, steps, loop, mode, truncation, batch_size,
                   resolve_device(device), options, outputs)  # fmt: skip
        return
    if (seeds is None) == (classes is None):
        raise UsageError("give --seeds (walk between latents) or --classes (walk between classes), one of them")
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)} (got {mode!r})")
    dev = resolve_device(device)
    sampler = open_sampler(checkpoint, dev, SampleOptions(ema=not no_ema))
    names = sampler.class_names

    if seeds is not None:
        keys = parse_seeds(seeds)
        if len(keys) < 2:
            raise UsageError("--seeds: an interpolation needs at least 2 keyframe seeds")
        _check_frames(len(keys), steps, loop)
        if seed is not None:
            raise UsageError("--seed goes with --classes; with --seeds the seeds are the keyframes")
        if class_ is not None and not names:
            raise UsageError("--class: this checkpoint is unconditional (it has no classes)")
        # the class `cgan sample` gives the first seed, unless told otherwise
        label = resolve_class(class_, names) if class_ is not None else keys[0] % max(1, len(names))
        z = path(truncate(torch.stack([latent(s, sampler.z_dim) for s in keys]), truncation), steps, loop, mode)
        cond = sampler.class_vector(torch.full((len(z),), label, device=dev)).cpu()
        what = f"seeds {', '.join(map(str, keys))}"
    else:
        if not names:
            raise UsageError("--classes: this checkpoint is unconditional (it has no classes)")
        if class_ is not None:
            raise UsageError("--class goes with --seeds; with --classes the class is what changes")
        labels = [resolve_class(c.strip(), names) for c in classes.split(",") if c.strip()]
        if len(labels) < 2:
            raise UsageError("--classes: an interpolation needs at least 2 keyframe classes")
        _check_frames(len(labels), steps, loop)
        with torch.no_grad():
            vectors = sampler.class_vector(torch.tensor(labels, device=dev)).float().cpu()
        cond = path(vectors, steps, loop, "lerp")
        seed = seed or 0
        z = truncate(latent(seed, sampler.z_dim), truncation).expand(len(cond), -1)
        what = f"classes {', '.join(names[i] for i in labels)} at seed {seed}"

    info(f"interpolating {len(z)} frames between {what}")
    outputs.write(render(sampler, z, cond, dev, batch_size))


class _Outputs:
    """Where frames go: numbered files, an animated GIF, a contact sheet; paths printed as written."""

    def __init__(self, out_dir: Path | None, gif: Path | None, grid_file: Path | None, duration: int, steps: int,
                 as_json: bool) -> None:  # fmt: skip
        if out_dir is None and gif is None and grid_file is None:
            raise UsageError("nothing to write: give --out DIR, --gif FILE and/or --grid FILE")
        if grid_file is not None:
            write_format(grid_file)
        if gif is not None and gif.suffix.lower() != ".gif":
            raise UsageError(f"--gif {gif}: the file name must end in .gif")
        self.out_dir, self.gif, self.grid_file = out_dir, gif, grid_file
        self.duration, self.steps, self.as_json = duration, steps, as_json

    def write(self, stream: Iterable[torch.Tensor]) -> None:
        frames: list[torch.Tensor] = []
        for i, frame in enumerate(stream):
            frames.append(frame)
            if self.out_dir is not None:
                _emit(save_image(frame, self.out_dir / f"frame-{i:05d}.png"), self.as_json, frame=i)
        if self.gif is not None:
            _emit(save_animation(frames, self.gif, self.duration, loop=True), self.as_json, kind="gif")
        if self.grid_file is not None:
            cols = min(self.steps, len(frames))
            rows = [frames[i : i + cols] for i in range(0, len(frames), cols)]
            _emit(save_image(grid(rows), self.grid_file), self.as_json, kind="grid")


def _label_walk(ckpt_path: Path, image: Path, source: str, target: str, steps: int, loop: bool,
                dev: torch.device, outputs: _Outputs) -> None:  # fmt: skip
    """StarGAN's hook: one input image, its target label blended from --from to --to."""
    meta = read_metadata(ckpt_path)
    cls = family_class(meta.get("family", "?"), ckpt_path)
    model = cls.label_translator(load_checkpoint(ckpt_path, groups=cls.inference_groups()), dev)
    _check_frames(2, steps, loop)
    labels = path(torch.stack([model.encode(source), model.encode(target)]), steps, loop, "lerp")
    x = to_tensor(resize_and_centre_crop(read_image(image, model.channels), model.image_size))[None].to(dev)
    info(f"interpolating {len(labels)} frames of {image} from {source} to {target}")

    def frames() -> Iterator[torch.Tensor]:
        with torch.no_grad():
            for label in labels:
                yield model.net(x, label[None].to(dev))[0].float().cpu()

    outputs.write(frames())


def _text_walk(ckpt_path: Path, texts: list[str], seeds: str | None, seed: int | None, steps: int, loop: bool,
               mode: str, psi: float, batch_size: int, dev: torch.device, options: SampleOptions,
               outputs: _Outputs) -> None:  # fmt: skip
    """Text-to-image: blend prompts' text features at a fixed seed (GAN-INT), or walk through z at a fixed prompt."""
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)} (got {mode!r})")
    if seeds is not None:
        if len(texts) != 1:
            raise UsageError("--seeds on a text-to-image checkpoint walks at one fixed prompt: give exactly one --text")
        if seed is not None:
            raise UsageError("--seed goes with several --text; with --seeds the seeds are the keyframes")
        keys = parse_seeds(seeds)
        if len(keys) < 2:
            raise UsageError("--seeds: an interpolation needs at least 2 keyframe seeds")
        _check_frames(len(keys), steps, loop)
        sampler = open_text_sampler(ckpt_path, dev, options)
        z = path(torch.stack([latent(s, sampler.z_dim) for s in keys]), steps, loop, mode)
        text = take(sampler.encode(texts), [0] * len(z))
        what = f"seeds {', '.join(map(str, keys))} for {texts[0]!r}"
    else:
        if len(texts) < 2:
            raise UsageError("give 2 or more --text prompts to blend (or --seeds with one --text)")
        _check_frames(len(texts), steps, loop)
        sampler = open_text_sampler(ckpt_path, dev, options)
        keyframes = sampler.encode(texts)
        weights = path(torch.eye(len(texts), dtype=torch.float64), steps, loop, "lerp")  # (F, K) blend weights
        text = mix(keyframes, weights.to(keyframes.pooled))
        seed = seed or 0
        z = latent(seed, sampler.z_dim).expand(len(weights), -1)
        what = f"{len(texts)} prompts at seed {seed}"
    info(f"interpolating {len(z)} frames between {what}")

    def frames() -> Iterator[torch.Tensor]:
        with torch.no_grad(), full_precision():
            for i in range(0, len(z), batch_size):
                chunk = to(take(text, slice(i, i + batch_size)), dev)
                yield from sampler.net(z[i : i + batch_size].to(dev), chunk, psi).float().cpu()

    outputs.write(frames())


def _check_frames(keys: int, steps: int, loop: bool) -> None:
    frames = steps * (keys if loop else keys - 1) + (0 if loop else 1)
    if frames > MAX_FRAMES:
        raise UsageError(f"{frames} frames is more than {MAX_FRAMES}: use fewer --steps or keyframes")


def _emit(written: Path, as_json: bool, **fields: object) -> None:
    out(json.dumps({"path": str(written), **fields}) if as_json else str(written))
