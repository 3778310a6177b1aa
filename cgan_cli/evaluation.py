"""`cgan eval`: where the two image sets come from, and which metrics are computed on them.

Each side is an image folder, a statistics file written by `--save-stats`, or (for FAKE) a checkpoint
whose family makes images on the fly (translation families translate `--inputs`). Metrics get
features from one shared Inception pass per side; paired metrics compare files by relative path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from cgan_cli.cache import read_cached, write_cached
from cgan_cli.checkpoint import load_checkpoint, read_metadata
from cgan_cli.console import warn
from cgan_cli.data.inputs import InputImage, list_images
from cgan_cli.data.io import read_image
from cgan_cli.data.paired import split_aligned
from cgan_cli.errors import CganError, UsageError
from cgan_cli.families import SampleOptions, TranslateOptions, family_class
from cgan_cli.metrics.features import FeatureExtractor, cache_key, quantise
from cgan_cli.metrics.stats import FIDStats, is_stats_file, load_stats
from cgan_cli.translation import Job, TranslationRun

if TYPE_CHECKING:
    from cgan_cli.metrics.lpips import LPIPS

ORDER = (
    "fid",
    "kid_mean",
    "kid_std",
    "is_mean",
    "is_std",
    "precision",
    "recall",
    "density",
    "coverage",
    "psnr",
    "ssim",
    "l1",
    "lpips",
    "clip_score",
)
PAIRED = ("psnr", "ssim", "l1", "lpips")


@dataclass
class Side:
    """One image set: either loaders of its images (with relative keys for pairing) or saved statistics."""

    origin: str
    kind: str  # "folder" | "stats" | "checkpoint"
    loaders: list[tuple[str, Callable[[], Image.Image]]] = field(default_factory=list)
    stats: FIDStats | None = None
    root: Path | None = None
    paths: list[Path] = field(default_factory=list)
    restart: Callable[[], None] | None = None  # generated sides: start generating from the first image again
    captions: list[str] | None = None  # the prompt of each image, in loader order (text-to-image sides)

    @property
    def count(self) -> int:
        return self.stats.count if self.stats is not None else len(self.loaders)


def _key(rel: Path) -> str:
    return rel.with_suffix("").as_posix()


def folder_side(path: Path, half: str | None = None) -> Side:
    files = list_images(path)
    if not files:
        raise CganError(f"{path}: no images in this folder")

    def loader(p: Path) -> Callable[[], Image.Image]:
        if half is None:
            return lambda: read_image(p, 3)
        return lambda: split_aligned(read_image(p, 3))[0 if half == "left" else 1]

    return Side(str(path), "folder", [(_key(p.relative_to(path)), loader(p)) for p in files], root=path, paths=files)


def open_side(arg: str, role: str) -> Side:
    path = Path(arg)
    if path.is_dir():
        return folder_side(path)
    if is_stats_file(path):
        return Side(str(path), "stats", stats=load_stats(path))
    if path.is_file() and role == "fake" and path.suffix == ".safetensors":
        read_metadata(path)  # raises a clear error for other .safetensors files
        return Side(str(path), "checkpoint")
    if not path.exists():
        raise CganError(f"{path}: no such folder or file")
    what = "an image folder, a --save-stats file" + (" or a checkpoint" if role == "fake" else "")
    raise CganError(f"{path}: not {what}")


def translated_side(
    ckpt_path: Path,
    inputs: Path,
    device: torch.device,
    limit: int | None,
    aligned: bool,
    batch_size: int,
    workers: int,
) -> tuple[Side, str]:
    """Images a translation checkpoint makes from `inputs` (generated lazily, in order); also returns which
    half of aligned files is the model's input."""
    meta = read_metadata(ckpt_path)
    cls = family_class(meta.get("family", "?"), ckpt_path)
    translator = cls.translator(load_checkpoint(ckpt_path, groups=cls.inference_groups()), device, TranslateOptions())
    files = list_images(inputs) if inputs.is_dir() else []
    if not files:
        raise CganError(f"{inputs}: no input images to translate")
    files = files[:limit] if limit else files
    runner = TranslationRun(translator, device, aligned=aligned, batch_size=batch_size, workers=workers)
    state: dict[str, Iterator[Job]] = {}

    def restart() -> None:
        state["stream"] = runner.translated(Job(InputImage(p, p.relative_to(inputs)), Path(".")) for p in files)

    def next_image() -> Image.Image:
        job = next(state["stream"])  # loaders are called one at a time, in input order
        if job.error:
            raise CganError(job.error)
        return quantise(job.tensor)

    restart()
    loaders = [(_key(p.relative_to(inputs)), next_image) for p in files]
    side = Side(str(ckpt_path), "checkpoint", loaders, root=inputs, paths=files, restart=restart)
    return side, translator.aligned_half


def checkpoint_makes(ckpt_path: Path) -> str:
    """What a checkpoint's family produces at inference: "translations" or "samples"."""
    meta = read_metadata(ckpt_path)
    return family_class(meta.get("family", "?"), ckpt_path).makes


def with_captions(side: Side) -> list[str]:
    """Each image's caption in loader order: a generated side's prompts, or a folder's sidecars/jsonl
    (the first caption of each image, as `text2img` writes them)."""
    if side.captions is not None:
        return side.captions
    if side.kind != "folder" or side.root is None:
        raise UsageError(f"{side.origin}: CLIP score needs images with captions (a folder, or a text checkpoint)")
    from cgan_cli.data.captions import find_captioned, first_captions

    first = {p.resolve(): c for p, c in first_captions(find_captioned(side.root)).items()}
    side.captions = [first[p.resolve()] for p in side.paths]
    return side.captions


def text_side(
    ckpt_path: Path, real: Side, device: torch.device, count: int | None, batch_size: int,
    clip_weights: Path | None = None,
) -> Side:  # fmt: skip
    """A text-to-image checkpoint's images for REAL's captions: image i from the first caption of real
    image i at seed i (the usual text-to-image protocol: one generation per real caption)."""
    from cgan_cli.generation import open_text_sampler
    from cgan_cli.prompts import PromptItem, generate_from_text

    captions = with_captions(real)[:count] if count else with_captions(real)
    if count and count > len(captions):
        warn(f"-n {count}: {real.origin} has {len(captions)} captioned images, so {len(captions)} are made")
    sampler = open_text_sampler(ckpt_path, device, SampleOptions(clip_weights=str(clip_weights or "")))
    prompts = list(dict.fromkeys(captions))
    position = {p: i for i, p in enumerate(prompts)}
    items = [PromptItem(position[c], seed) for seed, c in enumerate(captions)]
    state: dict[str, Iterator] = {}

    def restart() -> None:
        state["stream"] = generate_from_text(sampler, prompts, items, device, batch_size)

    def next_image() -> Image.Image:
        _, image = next(state["stream"])
        return quantise(image)

    restart()
    keys = [key for key, _ in real.loaders[: len(captions)]]  # named as the real images they answer
    return Side(str(ckpt_path), "checkpoint", [(k, next_image) for k in keys], restart=restart, captions=captions)


def sampled_side(ckpt_path: Path, device: torch.device, count: int, batch_size: int) -> Side:
    """`count` images a sampling checkpoint makes from seeds 0…count−1 (a conditional model gives seed s
    the class s mod K, so classes are balanced), generated lazily in order, exactly as `cgan sample -n`."""
    from cgan_cli.generation import generate, open_sampler, plan

    sampler = open_sampler(ckpt_path, device)
    items = plan(list(range(count)), [], sampler.class_names)
    items.sort(key=lambda it: it.rel_path(sampler.class_names).as_posix())  # a folder of them lists in this order
    state: dict[str, Iterator] = {}

    def restart() -> None:
        state["stream"] = generate(sampler, items, device, batch_size)

    def next_image() -> Image.Image:
        _, image = next(state["stream"])
        return quantise(image)

    restart()
    loaders = [(_key(item.rel_path(sampler.class_names)), next_image) for item in items]
    return Side(str(ckpt_path), "checkpoint", loaders, restart=restart)


def features_of(
    side: Side,
    extractor: FeatureExtractor,
    workers: int,
    use_cache: bool,
    on_error: Callable[[str], None],
    on_progress: Callable[[int], None],
) -> dict[str, torch.Tensor]:
    key = None
    if use_cache and side.kind == "folder" and side.root is not None:
        key = cache_key(side.root, side.paths, extractor.settings)
        cached = read_cached("features", key)
        if cached is not None:
            on_progress(side.count)
            return cached
    if side.restart is not None:
        side.restart()
    # generated images come from one ordered stream: take them in a single thread
    threads = 1 if side.kind == "checkpoint" else workers
    errors: list[str] = []

    def note(message: str) -> None:
        errors.append(message)
        on_error(message)

    feats = extractor.extract((load for _, load in side.loaders), threads, note, on_progress)
    if key is not None and not errors:
        write_cached("features", key, feats)
    return feats


def paired_metrics(
    real: Side,
    fake: Side,
    on_error: Callable[[str], None],
    metrics: Iterable[str] | None = None,
    lpips: LPIPS | None = None,
) -> dict[str, float]:
    """Means over the files sharing a relative path of `metrics` (default: psnr, ssim, l1, and lpips when an
    `lpips` network is given). A pair that cannot be compared (sizes differ, too small) is reported and skipped."""
    from cgan_cli.metrics.paired import l1, psnr, ssim

    if metrics is None:
        metrics = ("psnr", "ssim", "l1", "lpips") if lpips is not None else ("psnr", "ssim", "l1")
    wanted = tuple(metrics)
    if unknown := set(wanted) - set(PAIRED):
        raise ValueError(f"unknown paired metrics: {', '.join(sorted(unknown))}")
    if "lpips" in wanted and lpips is None:
        raise ValueError("paired metric lpips needs an LPIPS network")
    for side in (real, fake):
        if side.restart is not None:
            side.restart()
    real_by_key = dict(real.loaders)
    if not any(k in real_by_key for k, _ in fake.loaders):
        raise CganError(f"paired metrics: {real.origin} and {fake.origin} share no relative paths")
    sums = dict.fromkeys(wanted, 0.0)
    count = 0
    for key, load in fake.loaders:  # every fake in order: generated sides are one ordered stream
        try:
            b = load()
            if key not in real_by_key:
                continue
            a = real_by_key[key]()
        except CganError as exc:
            on_error(str(exc))
            continue
        if a.size != b.size:
            on_error(f"{key}: sizes differ ({a.size[0]}×{a.size[1]} real, {b.size[0]}×{b.size[1]} fake); skipped")
            continue
        ta = torch.from_numpy(np.asarray(a, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        tb = torch.from_numpy(np.asarray(b, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        try:  # every value of a pair first: a pair counts for all metrics or for none
            values = {}
            if "psnr" in wanted:
                values["psnr"] = min(float(psnr(ta, tb)[0]), 100.0)  # identical images: cap the infinite PSNR
            if "ssim" in wanted:
                values["ssim"] = float(ssim(ta, tb)[0])
            if "l1" in wanted:
                values["l1"] = float(l1(ta, tb)[0])
            if "lpips" in wanted:
                values["lpips"] = lpips.images(a, b)
        except ValueError as exc:  # images too small for SSIM's window or LPIPS' network
            on_error(f"{key}: {exc}; skipped")
            continue
        for k, v in values.items():
            sums[k] += v
        count += 1
    if not count:
        raise CganError("paired metrics: no pair could be compared")
    return {k: v / count for k, v in sums.items()}


def check_count(side: Side, need: int, metric: str) -> None:
    if side.count < need:
        raise UsageError(f"{metric} needs at least {need} images; {side.origin} has {side.count}")


def require_features(side: Side, metric: str) -> None:
    if side.kind == "stats":
        raise UsageError(f"{metric} needs image features, but {side.origin} holds only FID statistics (μ, Σ)")
