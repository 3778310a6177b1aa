"""`evaluate(real, fake, metrics, options) -> Report`: the whole of `cgan eval` apart from parsing and printing.

It opens the two sides (sides.py), checks before any long pass that each chosen row of table.py can have what it
needs, loads the networks the rows need (LPIPS, CLIP, the FID Inception), makes the shared inputs once (one
Inception pass per side, μ and Σ, one pass over the paired files), and calls the rows. Errors are CganError /
UsageError with the CLI's one-line messages; images that cannot be read are reported through `on_error` and
listed in the report. Parsing options and printing the report are the CLI's (cgan_cli/cli/eval.py); the metrics'
mathematics and the networks' weights are cgan_cli/metrics'.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from cgan_cli import __version__
from cgan_cli.console import warn
from cgan_cli.device import resolve_device
from cgan_cli.errors import CganError, UsageError
from cgan_cli.evaluation.options import DIMS, LPIPS_NETS, EvalOptions, ProgressBars
from cgan_cli.evaluation.sides import Side, features_of, open_sides, require_features, with_captions
from cgan_cli.evaluation.table import (
    CAPTIONS,
    INCEPTION,
    LOGITS,
    LPIPS_NET,
    ORDER,
    PAIRS,
    POOL,
    STATS,
    Inputs,
    Metric,
    Pair,
    select,
)
from cgan_cli.metrics.features import RESIZE_MODES, FeatureExtractor, FeatureSettings
from cgan_cli.metrics.stats import FIDStats, save_stats

if TYPE_CHECKING:
    from cgan_cli.text.clip import ImageEncoder, TextEncoder


@dataclass
class Report:
    """What `evaluate` found: the results in output order, the settings that changed them, and the messages of
    images that could not be read or compared (the CLI exits 1 when there are any)."""

    results: dict[str, float]
    settings: dict[str, object]
    failures: list[str] = field(default_factory=list)
    stats_file: Path | None = None  # where REAL's FID statistics were written

    def as_dict(self) -> dict[str, object]:
        """The `--json` object: every result, then the settings."""
        return {**self.results, "settings": self.settings}


def evaluate(
    real: str | Path,
    fake: str | Path | None,
    metrics: Iterable[str],
    options: EvalOptions | None = None,
    on_error: Callable[[str], None] | None = None,
    progress: ProgressBars | None = None,
) -> Report:
    """`metrics` (table.py's row names, the flags of `cgan eval`: "fid", "kid", "is", "pr", "prdc", "psnr", "ssim",
    "l1", "lpips", "clip-score"; none: FID) of FAKE against REAL, each a folder or a `--save-stats` file, FAKE
    also a checkpoint. `on_error` hears of each image that could not be read, as it happens; `progress` (a rich
    Progress, say) shows the Inception passes."""
    options = options if options is not None else EvalOptions()
    rows = select(metrics, options.save_stats is not None)
    _check_options(options)
    inception_rows = [m for m in rows if m.needs & INCEPTION]
    if fake is None and (inception_rows and options.save_stats is None or any(PAIRS in m.needs for m in rows)):
        raise UsageError("FAKE is required unless you only --save-stats of REAL")
    failures: list[str] = []

    def note(message: str) -> None:
        failures.append(message)
        if on_error is not None:
            on_error(message)

    device = resolve_device(options.device)
    real_side, fake_side = open_sides(real, fake, options, device)
    # without FAKE (REAL only for --save-stats), the Inception metrics are left out
    chosen = [m for m in rows if fake_side is not None or not m.needs & INCEPTION]
    _check_needs(chosen, real_side, fake_side)
    x = Inputs(options, real_side, fake_side, note)
    if any(LPIPS_NET in m.needs for m in chosen):
        _load_lpips(x, device)
    if any(CAPTIONS in m.needs for m in chosen):
        x.clip = _clip_encoders(options, device)
    settings: dict[str, object] = {
        "cgan_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "real": real_side.origin,
        "fake": fake_side.origin if fake_side is not None else None,
        "real_count": real_side.count,
        "fake_count": fake_side.count if fake_side is not None else None,
    }
    results: dict[str, float] = {}
    if inception_rows or options.save_stats is not None:
        _inception_pass(x, rows, device, settings, progress)
        if fake_side is not None:
            for m in inception_rows:
                _compute(m, x, results, settings)
            settings.update(seed=options.seed)
    for m in chosen:
        if m.compute is not None and not m.needs & INCEPTION:
            _compute(m, x, results, settings)
    paired = [m for m in chosen if m.per_pair is not None]
    if paired:
        for m in paired:
            settings.update(_record(m, x))
        results.update(paired_means(x, paired))
    return Report({k: results[k] for k in ORDER if k in results}, settings, failures, options.save_stats)


def _check_options(options: EvalOptions) -> None:
    if options.dims not in DIMS:
        raise UsageError(f"--dims must be one of {', '.join(map(str, DIMS))} (got {options.dims})")
    if options.resize not in RESIZE_MODES:
        raise UsageError(f"--resize must be one of {', '.join(RESIZE_MODES)} (got {options.resize!r})")
    if options.lpips_net is not None and options.lpips_net not in LPIPS_NETS:
        raise UsageError(f"--lpips-net must be one of {', '.join(LPIPS_NETS)} (got {options.lpips_net!r})")
    if options.save_stats is not None and options.save_stats.suffix != ".safetensors":
        # a later `cgan eval STATS …` recognises statistics by this suffix; any other name would not be read back
        raise UsageError(f"--save-stats {options.save_stats}: name the file *.safetensors")


def _check_needs(rows: list[Metric], real: Side, fake: Side | None) -> None:
    """Before any long pass: a side that holds only μ and Σ cannot give images, and CLIP score needs a caption
    for every image (reading them now also fails at once on an uncaptioned one)."""
    scored = fake if fake is not None else real
    for m in rows:
        for need, sides, label in (
            (POOL, (real, fake), m.label),
            (LOGITS, (fake,), m.label),
            (PAIRS, (real, fake), "paired metrics"),
            (CAPTIONS, (scored,), m.label),
        ):
            if need in m.needs:
                for side in sides:
                    if side is not None:
                        require_features(side, label)
        if CAPTIONS in m.needs:
            with_captions(scored)


def _load_lpips(x: Inputs, device: torch.device) -> None:
    """Before any long pass: missing or bad weights fail at once."""
    from cgan_cli.metrics.lpips import find_lpips_weights, load_lpips

    found = find_lpips_weights(x.options.lpips_weights, x.options.lpips_net)
    x.lpips = load_lpips(found, device)
    if not found.official:
        warn("these LPIPS weights are not the published ones: their values compare with nobody else's")
    x.lpips_weights = found


def _clip_encoders(options: EvalOptions, device: torch.device) -> tuple[TextEncoder, ImageEncoder]:
    """The scoring CLIP's two towers, loaded before any long pass."""
    from cgan_cli.text.clip import ClipSpec, load_image_encoder, load_text_encoder

    weights, pretrained = options.clip_weights, options.clip_pretrained
    tag = "" if weights is not None or pretrained.lower() in ("", "none") else pretrained
    spec = ClipSpec(model=options.clip_model, pretrained=tag, weights=str(weights.resolve()) if weights else "")
    if not spec.pretrained and not spec.weights:
        warn("--clip-pretrained none: a randomly initialised CLIP gives meaningless CLIP scores")
    return load_text_encoder(spec, device), load_image_encoder(spec, device)


def _inception_pass(
    x: Inputs, rows: list[Metric], device: torch.device, settings: dict[str, object], progress: ProgressBars | None
) -> None:
    """Features of both sides' images in one pass each, μ and Σ where FID or --save-stats needs them (IS alone
    must not demand two real images), and the --save-stats file."""
    from cgan_cli.metrics.inception import find_inception_weights, load_inception

    o = x.options
    weights = find_inception_weights(o.inception_weights)
    net = load_inception(weights, device)
    logits = any(LOGITS in m.needs for m in rows)
    if logits and not net.has_logits:
        raise CganError(
            f"{weights.path}: these Inception weights have no 1008-way classifier, which --is needs; use "
            "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (--inception-weights FILE)"
        )
    for side in (x.real, x.fake):
        if side is not None and side.kind == "stats":
            _check_compatible(side, o.dims, o.resize, weights.sha256)
    extractor = FeatureExtractor(net, device, FeatureSettings(weights.sha256, o.resize, o.dims, logits), o.batch_size)
    settings.update(
        extractor="pytorch-fid InceptionV3 (FID weights, 2015-12-05)",
        weights_sha256=weights.sha256,
        weights_source=weights.source,
        resize=o.resize,
        dims=o.dims,
    )
    sides = {role: s for role, s in (("real", x.real), ("fake", x.fake)) if s is not None and s.kind != "stats"}
    with progress if progress is not None else contextlib.nullcontext():
        for role, side in sides.items():
            advance = _advancer(progress, f"features {side.origin}", side.count)
            x.features[role] = features_of(side, extractor, o.workers, o.cache, x.on_error, advance)
    roles = ["real"] if o.save_stats is not None else []
    roles += ["real", "fake"] if any(STATS in m.needs for m in rows) else []
    for role in dict.fromkeys(roles):
        side = x.real if role == "real" else x.fake
        if side is not None:
            x.stats[role] = _stats(side, x.features.get(role))
    if o.save_stats is not None:
        mu, sigma = x.stats["real"]
        save_stats(o.save_stats, FIDStats(mu, sigma, x.real.count, dict(settings)))


def _advancer(progress: ProgressBars | None, description: str, total: int) -> Callable[[int], None]:
    """A task on the bars (if any) for one pass over `total` images, and the function that moves it on."""
    if progress is None:
        return lambda k: None
    task = progress.add_task(description, total=total)
    return lambda k: progress.advance(task, k)


def _check_compatible(side: Side, dims: int, resize: str, sha: str) -> None:
    """Saved statistics compare only with features of the same layer, resize and weights."""
    saved = side.stats.settings if side.stats is not None else {}
    for key, value in (("dims", dims), ("resize", resize), ("weights_sha256", sha)):
        if key in saved and saved[key] != value:
            raise UsageError(f"{side.origin} was computed with {key}={saved[key]}, but this run uses {value}")


def _stats(side: Side, features: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
    from cgan_cli.metrics.fid import feature_stats

    if side.stats is not None:
        return side.stats.mu, side.stats.sigma
    pool = features["pool"] if features is not None else torch.empty(0, 0)
    if pool.shape[0] < 2:
        raise CganError(f"{side.origin}: FID needs at least 2 readable images (got {pool.shape[0]})")
    return feature_stats(pool)


def _compute(m: Metric, x: Inputs, results: dict[str, float], settings: dict[str, object]) -> None:
    """A whole-set row: its results and its settings. Too few samples and the like are one-line errors."""
    if m.compute is None:
        return
    try:
        results.update(m.compute(x))
    except ValueError as exc:
        raise CganError(str(exc)) from None
    settings.update(_record(m, x))


def _record(m: Metric, x: Inputs) -> dict[str, object]:
    return m.record(x) if m.record is not None else {}


def paired_means(x: Inputs, rows: list[Metric]) -> dict[str, float]:
    """Means of the paired `rows` over the files sharing a relative path, in one pass: a pair counts for all of
    them or for none. A pair that cannot be compared (sizes differ, too small) is reported and skipped."""
    real, fake = x.real, x.fake
    if fake is None:
        raise UsageError("FAKE is required unless you only --save-stats of REAL")
    for side in (real, fake):
        if side.restart is not None:
            side.restart()
    real_by_key = dict(real.loaders)
    if not any(k in real_by_key for k, _ in fake.loaders):
        raise CganError(f"paired metrics: {real.origin} and {fake.origin} share no relative paths")
    sums = {m.keys[0]: 0.0 for m in rows}
    count = 0
    for key, load in fake.loaders:  # every fake in order: generated sides are one ordered stream
        try:
            b = load()
            if key not in real_by_key:
                continue
            a = real_by_key[key]()
        except CganError as exc:
            x.on_error(str(exc))
            continue
        if a.size != b.size:
            x.on_error(f"{key}: sizes differ ({a.size[0]}×{a.size[1]} real, {b.size[0]}×{b.size[1]} fake); skipped")
            continue
        pair = Pair(key, a, b, _tensor(a), _tensor(b))
        try:  # every value of a pair first
            values = {m.keys[0]: m.per_pair(pair, x) for m in rows if m.per_pair is not None}
        except ValueError as exc:  # images too small for SSIM's window or LPIPS' network
            x.on_error(f"{key}: {exc}; skipped")
            continue
        for k, v in values.items():
            sums[k] += v
        count += 1
    if not count:
        raise CganError("paired metrics: no pair could be compared")
    return {k: v / count for k, v in sums.items()}


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
