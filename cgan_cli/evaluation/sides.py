"""Where `cgan eval`'s two image sets come from: folders, `--save-stats` files, or a checkpoint's images.

Each side is an image folder, a statistics file written by `--save-stats`, or (for FAKE) a checkpoint
whose family makes images on the fly (translation families translate `--inputs`; sampling families sample
as `cgan sample -n` would; text families draw one image per caption of REAL). A side hands out loaders of
its images, keyed by relative path so paired metrics can match files, and its Inception features (cached
for unchanged folders). Which metrics run on the sides, and how, is table.py's and service.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from cgan_cli.cache import read_cached, write_cached
from cgan_cli.console import warn
from cgan_cli.data.inputs import InputImage, list_images
from cgan_cli.data.io import read_image
from cgan_cli.data.paired import split_aligned
from cgan_cli.errors import CganError, UsageError
from cgan_cli.evaluation.options import EvalOptions
from cgan_cli.families import SampleOptions, TranslateOptions
from cgan_cli.families.base import checkpoint_makes, open_checkpoint
from cgan_cli.metrics.features import FeatureExtractor, cache_key, quantise
from cgan_cli.metrics.stats import FIDStats, is_stats_file, load_stats
from cgan_cli.translation import Job, TranslationRun


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
    makes: str | None = None  # a checkpoint not yet opened: what its family makes, from its header
    view: str = ""  # how a folder's images are cut or resized before use ("" as stored); part of the cache key

    @property
    def count(self) -> int:
        return self.stats.count if self.stats is not None else len(self.loaders)


def _key(rel: Path) -> str:
    return rel.with_suffix("").as_posix()


def folder_side(path: Path, half: str | None = None, size: int | None = None) -> Side:
    """The images under `path` (recursive), or one half ("left"/"right") of each A|B file; with `size`, resized
    (bicubic) to size × size as a translation checkpoint's outputs are."""
    files = list_images(path)
    if not files:
        raise CganError(f"{path}: no images in this folder")

    def loader(p: Path) -> Callable[[], Image.Image]:
        def load() -> Image.Image:
            image = read_image(p, 3)
            if half is not None:
                image = split_aligned(image)[0 if half == "left" else 1]
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BICUBIC)
            return image

        return load

    view = ":".join(part for part in (half or "", f"{size}px" if size else "") if part)
    return Side(str(path), "folder", [(_key(p.relative_to(path)), loader(p)) for p in files], root=path, paths=files,
                view=view)  # fmt: skip


def open_side(arg: str, role: str) -> Side:
    """A folder or a --save-stats file; for `role` "fake" also a checkpoint, opened later by open_sides."""
    path = Path(arg)
    if path.is_dir():
        return folder_side(path)
    if is_stats_file(path):
        return Side(str(path), "stats", stats=load_stats(path))
    if path.is_file() and role == "fake" and path.suffix == ".safetensors":
        # the header: a clear error for other .safetensors files, and what the family makes
        return Side(str(path), "checkpoint", makes=checkpoint_makes(path))
    if not path.exists():
        raise CganError(f"{path}: no such folder or file")
    what = "an image folder, a --save-stats file" + (" or a checkpoint" if role == "fake" else "")
    raise CganError(f"{path}: not {what}")


PAIR_FOLDERS = (("A", "B"), ("labels", "images"))  # the two-folder paired layouts; labels/ are always the input


def paired_folders(root: Path) -> tuple[str, str] | None:
    """The (A, B) subfolder names when `root` holds a two-folder paired layout (A/ and B/, or SPADE's labels/
    and images/), else None (aligned A|B files)."""
    for a, b in PAIR_FOLDERS:
        if (root / a).is_dir() and (root / b).is_dir():
            return a, b
    return None


def translated_side(
    ckpt_path: Path,
    source: Path,
    device: torch.device,
    options: EvalOptions,
    aligned: bool,
) -> tuple[Side, Path | None, str | None]:
    """Images a translation checkpoint makes (generated lazily, in order) from `source`: a folder of inputs, or
    with `aligned` a paired folder (A|B files, or A/ and B/ folders). Also returns where REAL's images are in a
    two-folder `source` (None: REAL as given) and, for A|B files, which half of them is REAL's."""
    cls, ckpt = open_checkpoint(ckpt_path)
    translator = cls.translator(ckpt, device, TranslateOptions())
    inputs, real_root, real_half = source, None, None
    if aligned:
        folders = paired_folders(source)
        if folders is None:
            real_half = "right" if translator.aligned_half == "left" else "left"
        else:
            a, b = folders
            first_is_input = a == "labels" or translator.aligned_half == "left"
            inputs, real_root = (source / a, source / b) if first_is_input else (source / b, source / a)
            aligned = False
    files = list_images(inputs) if inputs.is_dir() else []
    if not files:
        raise CganError(f"{inputs}: no input images to translate")
    files = files[: options.n] if options.n else files
    size = (options.size, options.size) if options.size else None
    runner = TranslationRun(translator, device, size=size, aligned=aligned, batch_size=8, workers=options.workers)
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
    return side, real_root, real_half


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


def open_sides(
    real: str | Path, fake: str | Path | None, options: EvalOptions, device: torch.device
) -> tuple[Side, Side | None]:
    """REAL and FAKE as `cgan eval` reads its arguments: a checkpoint FAKE becomes the images its family makes
    (and with `aligned`, REAL the other halves of its A|B files, or its other folder of A/ and B/)."""
    real_side = open_side(str(real), "real")
    fake_side = open_side(str(fake), "fake") if fake is not None else None
    if fake_side is None or fake_side.kind != "checkpoint":
        if options.aligned or options.inputs is not None or options.n is not None or options.size is not None:
            raise UsageError("--aligned, --inputs, --size and -n apply when FAKE is a checkpoint")
        return real_side, fake_side
    ckpt, makes = Path(fake), fake_side.makes
    if makes in ("text", "samples") and (options.aligned or options.inputs is not None or options.size is not None):
        what = "makes images from text" if makes == "text" else "samples from noise"
        raise UsageError(f"--aligned, --inputs and --size apply to translation checkpoints; this one {what}")
    if makes == "text":
        return real_side, text_side(
            ckpt, real_side, device, options.n, options.batch_size, options.text_encoder_weights
        )
    if makes == "samples":
        return real_side, sampled_side(ckpt, device, options.n or real_side.count, options.batch_size)
    source = options.inputs or (Path(real) if options.aligned else None)
    if source is None:
        raise UsageError("a checkpoint FAKE translates images: give --inputs DIR (or --aligned with REAL's A|B files)")
    if options.aligned and real_side.kind != "folder":
        raise UsageError("--aligned needs REAL to be a folder of A|B files (or of A/ and B/ folders)")
    fake_side, real_root, real_half = translated_side(ckpt, source, device, options, options.aligned)
    if options.aligned or options.size:
        real_side = folder_side(real_root or Path(real), real_half, options.size)
    return real_side, fake_side


def features_of(
    side: Side,
    extractor: FeatureExtractor,
    workers: int,
    use_cache: bool,
    on_error: Callable[[str], None],
    on_progress: Callable[[int], None],
) -> dict[str, torch.Tensor]:
    """Inception features of a side's images; an unchanged folder's come from the cache when `use_cache`. A cache
    entry is written only when every image was read, so a failure is reported again on the next run."""
    key = None
    if use_cache and side.kind == "folder" and side.root is not None:
        key = cache_key(side.root, side.paths, extractor.settings, side.view)
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


def require_features(side: Side, metric: str) -> None:
    """A usage error when `metric` would need images of a side that holds only μ and Σ."""
    if side.kind == "stats":
        raise UsageError(f"{metric} needs image features, but {side.origin} holds only FID statistics (μ, Σ)")
