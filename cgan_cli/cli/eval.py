"""`cgan eval REAL FAKE --fid …`: metrics on stdout (`name: value`, or one JSON object), progress on stderr."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cgan_cli import __version__
from cgan_cli.cli.common import DEVICE_HELP, default_threads, exits_cleanly
from cgan_cli.console import animated, error, out, stderr_console, warn
from cgan_cli.device import resolve_device
from cgan_cli.errors import CganError, ExitCode, UsageError
from cgan_cli.evaluation import (
    ORDER,
    PAIRED,
    Side,
    checkpoint_makes,
    features_of,
    folder_side,
    open_side,
    paired_metrics,
    require_features,
    sampled_side,
    text_side,
    translated_side,
    with_captions,
)
from cgan_cli.metrics.features import RESIZE_MODES, FeatureExtractor, FeatureSettings
from cgan_cli.metrics.stats import FIDStats, save_stats

DIMS = (64, 192, 768, 2048)
LPIPS_NETS = ("alex", "vgg")


def _flag(name: str, help: str) -> typer.models.OptionInfo:
    return typer.Option(f"--{name}", help=help)


@exits_cleanly
def evaluate(
    real: Annotated[str, typer.Argument(help="Real images: a folder (recursive) or a --save-stats file.")],
    fake: Annotated[
        str | None, typer.Argument(help="Generated images: a folder, a --save-stats file, or a checkpoint.")
    ] = None,
    fid: Annotated[bool, _flag("fid", "Fréchet Inception Distance (pytorch-fid's numbers).")] = False,
    kid: Annotated[bool, _flag("kid", "Kernel Inception Distance (mean and std over subsets).")] = False,
    inception_score: Annotated[bool, _flag("is", "Inception Score of FAKE (10 splits).")] = False,
    pr: Annotated[bool, _flag("pr", "Precision and recall (Kynkäänniemi et al., k=3).")] = False,
    prdc: Annotated[bool, _flag("prdc", "Precision, recall, density and coverage (Naeem et al., k=5).")] = False,
    psnr: Annotated[bool, _flag("psnr", "PSNR of files sharing a relative path.")] = False,
    ssim: Annotated[bool, _flag("ssim", "SSIM (Gaussian window) of files sharing a relative path.")] = False,
    l1: Annotated[bool, _flag("l1", "Mean absolute difference of files sharing a relative path.")] = False,
    lpips: Annotated[
        bool, _flag("lpips", "LPIPS (the lpips package's v0.1 numbers) of files sharing a relative path.")
    ] = False,
    lpips_net: Annotated[str | None, typer.Option("--lpips-net", help="LPIPS backbone: alex (default) or vgg.")] = None,
    lpips_weights: Annotated[
        Path | None, typer.Option("--lpips-weights", help="LPIPS weights file (.safetensors; see README).")
    ] = None,
    clip: Annotated[
        bool, _flag("clip-score", "CLIP score of FAKE (or of REAL alone) against each image's caption.")
    ] = False,
    clip_model: Annotated[str, typer.Option("--clip-model", help="open_clip model for --clip-score.")] = "ViT-B-32",
    clip_pretrained: Annotated[
        str, typer.Option("--clip-pretrained", help="Its pretrained tag, downloaded on first use.")
    ] = "openai",
    clip_weights: Annotated[
        Path | None, typer.Option("--clip-weights", help="A local CLIP weights file instead of downloading.")
    ] = None,
    text_encoder_weights: Annotated[
        Path | None,
        typer.Option("--text-encoder-weights", help="With a text checkpoint FAKE: its CLIP weights file, if moved."),
    ] = None,
    dims: Annotated[int, typer.Option("--dims", help="Inception feature layer: 64, 192, 768 or 2048.")] = 2048,
    resize: Annotated[str, typer.Option("--resize", help="pytorch-fid (bilinear) or clean (PIL bicubic).")] = (
        "pytorch-fid"
    ),
    inception_weights: Annotated[
        Path | None, typer.Option("--inception-weights", help="FID Inception weights file (see README).")
    ] = None,
    save_stats_to: Annotated[
        Path | None, typer.Option("--save-stats", help="Write REAL's FID statistics (μ, Σ, count) to FILE.")
    ] = None,
    cache: Annotated[bool, typer.Option("--cache", help="Reuse features of unchanged folders.")] = False,
    n: Annotated[
        int | None,
        typer.Option("-n", help="With a checkpoint FAKE: images to make (sampling default: as many as REAL).", min=1),
    ] = None,
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help="With a translation checkpoint: the images to translate.")
    ] = None,
    aligned: Annotated[
        bool, typer.Option("--aligned", help="With a checkpoint: REAL holds A|B files; compare with the target half.")
    ] = False,
    kid_subsets: Annotated[int, typer.Option("--kid-subsets", min=1, help="KID subsets.")] = 100,
    kid_subset_size: Annotated[int, typer.Option("--kid-subset-size", min=2, help="KID subset size.")] = 1000,
    is_splits: Annotated[int, typer.Option("--is-splits", min=1, help="Inception Score splits.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed for KID subsets and IS shuffling.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per Inception pass.")] = 50,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Decode threads.")] = default_threads(),
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object with every metric and the settings.")
    ] = False,
) -> None:
    """Compare two image sets. Prints `name: value` lines (or --json); exit 1 if an image could not be read."""
    wanted = {"fid": fid, "kid": kid, "is": inception_score, "pr": pr or prdc, "dc": prdc}
    paired = [m for m, on in zip(PAIRED, (psnr, ssim, l1, lpips), strict=True) if on]
    if not any(wanted.values()) and not paired and save_stats_to is None and not clip:
        wanted["fid"] = True
    if dims not in DIMS:
        raise UsageError(f"--dims must be one of {', '.join(map(str, DIMS))} (got {dims})")
    if resize not in RESIZE_MODES:
        raise UsageError(f"--resize must be one of {', '.join(RESIZE_MODES)} (got {resize!r})")
    if lpips_net is not None and lpips_net not in LPIPS_NETS:
        raise UsageError(f"--lpips-net must be one of {', '.join(LPIPS_NETS)} (got {lpips_net!r})")
    if fake is None and (any(wanted.values()) and save_stats_to is None or paired):
        raise UsageError("FAKE is required unless you only --save-stats of REAL")
    dev = resolve_device(device)
    failures: list[str] = []

    def on_error(message: str) -> None:
        failures.append(message)
        error(message)

    # --- the two sides ------------------------------------------------------------------------
    real_side = open_side(real, "real")
    fake_side: Side | None = open_side(fake, "fake") if fake is not None else None
    makes = checkpoint_makes(Path(fake)) if fake_side is not None and fake_side.kind == "checkpoint" else None
    if makes == "text":
        if aligned or inputs is not None:
            raise UsageError("--aligned and --inputs apply to translation checkpoints; this one makes images from text")
        fake_side = text_side(Path(fake), real_side, dev, n, batch_size, text_encoder_weights)
    elif makes == "samples":
        if aligned or inputs is not None:
            raise UsageError("--aligned and --inputs apply to translation checkpoints; this one samples from noise")
        fake_side = sampled_side(Path(fake), dev, n or real_side.count, batch_size)
    elif makes is not None:
        source = inputs or (Path(real) if aligned else None)
        if source is None:
            raise UsageError(
                "a checkpoint FAKE translates images: give --inputs DIR (or --aligned with REAL's A|B files)"
            )
        fake_side, input_half = translated_side(Path(fake), source, dev, n, aligned, 8, workers)
        if aligned:
            if real_side.kind != "folder":
                raise UsageError("--aligned needs REAL to be a folder of A|B files")
            real_side = folder_side(Path(real), "right" if input_half == "left" else "left")
    elif aligned or inputs is not None or n is not None:
        raise UsageError("--aligned, --inputs and -n apply when FAKE is a checkpoint")
    lpips_model, lpips_settings = None, {}
    if lpips:  # before any long pass: missing or bad weights fail at once
        from cgan_cli.metrics.lpips import find_lpips_weights, load_lpips

        lpips_found = find_lpips_weights(lpips_weights, lpips_net)
        lpips_model = load_lpips(lpips_found, dev)
        if not lpips_found.official:
            warn("these LPIPS weights are not the published ones: their values compare with nobody else's")
        lpips_settings = lpips_found.settings()

    clip_model_pair = None
    if clip:  # before any long pass: uncaptioned images, missing weights and bad sides fail at once
        clip_side = fake_side or real_side
        require_features(clip_side, "CLIP score")
        with_captions(clip_side)
        clip_model_pair = _clip_encoders(clip_model, clip_pretrained, clip_weights, dev)

    # --- Inception features -------------------------------------------------------------------
    results: dict[str, float] = {}
    settings: dict[str, object] = {
        "cgan_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "real": real_side.origin,
        "fake": fake_side.origin if fake_side else None,
        "real_count": real_side.count,
        "fake_count": fake_side.count if fake_side else None,
    }
    needs_inception = any(wanted.values()) or save_stats_to is not None
    if needs_inception:
        from cgan_cli.metrics.inception import find_inception_weights, load_inception

        weights = find_inception_weights(inception_weights)
        net = load_inception(weights, dev)
        if wanted["is"] and not net.has_logits:
            raise CganError(
                f"{weights.path}: these Inception weights have no 1008-way classifier, which --is needs; use "
                "pytorch-fid's pt_inception-2015-12-05-6726825d.pth (--inception-weights FILE)"
            )
        feature_settings = FeatureSettings(weights.sha256, resize, dims, logits=wanted["is"])
        extractor = FeatureExtractor(net, dev, feature_settings, batch_size)
        settings.update(
            extractor="pytorch-fid InceptionV3 (FID weights, 2015-12-05)",
            weights_sha256=weights.sha256,
            weights_source=weights.source,
            resize=resize,
            dims=dims,
        )
        sides = [s for s in (real_side, fake_side) if s is not None and s.kind != "stats"]
        feats = _extract_all(sides, extractor, workers, cache, on_error)
        # μ, Σ only where FID or --save-stats needs them (--is alone must not demand 2 real images)
        stat_sides = [real_side] if save_stats_to is not None else []
        stat_sides += [real_side, fake_side] if wanted["fid"] else []
        stats = {id(s): _stats(s, feats) for s in stat_sides if s is not None}
        for s in (real_side, fake_side):
            if s is not None and s.kind == "stats":
                _check_compatible(s, dims, resize, weights.sha256)
        if save_stats_to is not None:
            real_stats = stats[id(real_side)]
            save_stats(save_stats_to, FIDStats(real_stats[0], real_stats[1], real_side.count, dict(settings)))
        if fake_side is not None:
            params = (kid_subsets, kid_subset_size, is_splits)
            try:
                _metrics(wanted, real_side, fake_side, feats, stats, results, settings, seed, params)
            except ValueError as exc:  # too few samples for a metric, and the like
                raise CganError(str(exc)) from None
    if clip_model_pair is not None:
        results["clip_score"] = _clip_score(fake_side or real_side, *clip_model_pair, batch_size, settings, on_error)
    if paired and fake_side is not None:
        for side in (real_side, fake_side):
            require_features(side, "paired metrics")
        settings.update(lpips_settings)
        values = paired_metrics(real_side, fake_side, on_error, paired, lpips_model)
        results.update({k: values[k] for k in paired})

    if as_json:
        out(json.dumps({**{k: results[k] for k in ORDER if k in results}, "settings": settings}))
    else:
        for key in ORDER:
            if key in results:
                out(f"{key}: {results[key]:.6g}")
    if save_stats_to is not None:
        stderr_console().print(f"wrote {save_stats_to}", markup=False)
    if failures:
        raise typer.Exit(int(ExitCode.FAILURE))


def _clip_encoders(model: str, pretrained: str, weights: Path | None, dev: torch.device):
    from cgan_cli.text.clip import ClipSpec, load_image_encoder, load_text_encoder

    tag = "" if weights is not None or pretrained.lower() in ("", "none") else pretrained
    spec = ClipSpec(model=model, pretrained=tag, weights=str(weights.resolve()) if weights else "")
    if not spec.pretrained and not spec.weights:
        warn("--clip-pretrained none: a randomly initialised CLIP gives meaningless CLIP scores")
    return load_text_encoder(spec, dev), load_image_encoder(spec, dev)


def _clip_score(side: Side, text_encoder, image_encoder, batch_size: int, settings: dict, on_error) -> float:
    from cgan_cli.metrics.clip_score import clip_score, clip_scores

    settings.update(clip_backbone=text_encoder.spec.describe(), clip_sha256=text_encoder.sha256)
    if side.restart is not None:
        side.restart()

    def images():
        for _, load in side.loaders:
            try:
                yield load()
            except CganError as exc:
                on_error(str(exc))
                yield None

    try:
        return clip_score(clip_scores(images(), with_captions(side), image_encoder, text_encoder, batch_size))
    except ValueError as exc:
        raise CganError(str(exc)) from None


def _extract_all(sides: list[Side], extractor: FeatureExtractor, workers: int, cache: bool, on_error) -> dict:
    console = stderr_console()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not animated(console),
    )
    feats = {}
    with progress:
        for side in sides:
            task = progress.add_task(f"features {side.origin}", total=side.count)
            feats[id(side)] = features_of(
                side, extractor, workers, cache, on_error, lambda k, task=task: progress.advance(task, k)
            )
    return feats


def _stats(side: Side, feats: dict) -> tuple[torch.Tensor, torch.Tensor]:
    from cgan_cli.metrics.fid import feature_stats

    if side.kind == "stats":
        return side.stats.mu, side.stats.sigma
    pool = feats[id(side)]["pool"]
    if pool.shape[0] < 2:
        raise CganError(f"{side.origin}: FID needs at least 2 readable images (got {pool.shape[0]})")
    return feature_stats(pool)


def _check_compatible(side: Side, dims: int, resize: str, sha: str) -> None:
    saved = side.stats.settings
    for key, value in (("dims", dims), ("resize", resize), ("weights_sha256", sha)):
        if key in saved and saved[key] != value:
            raise UsageError(f"{side.origin} was computed with {key}={saved[key]}, but this run uses {value}")


def _metrics(wanted, real, fake, feats, stats, results, settings, seed, params) -> None:
    kid_subsets, kid_subset_size, is_splits = params
    if wanted["fid"]:
        from cgan_cli.metrics.fid import frechet_distance

        results["fid"] = frechet_distance(*stats[id(real)], *stats[id(fake)])
    if wanted["kid"]:
        from cgan_cli.metrics.kid import kernel_inception_distance

        for side in (real, fake):
            require_features(side, "KID")
        mean, std, notes = kernel_inception_distance(
            feats[id(real)]["pool"], feats[id(fake)]["pool"], kid_subsets, kid_subset_size, seed=seed
        )
        for note in notes:
            warn(note)
        results.update(kid_mean=mean, kid_std=std)
        settings.update(kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, kid_degree=3, kid_coef0=1.0)
    if wanted["is"]:
        from cgan_cli.metrics.inception_score import inception_score

        require_features(fake, "IS")
        mean, std = inception_score(feats[id(fake)]["logits"], is_splits, seed=seed)
        results.update(is_mean=mean, is_std=std)
        settings.update(is_splits=is_splits)
    if wanted["pr"]:
        from cgan_cli.metrics.prdc import density_coverage, precision_recall

        for side in (real, fake):
            require_features(side, "precision/recall")
        results["precision"], results["recall"] = precision_recall(feats[id(real)]["pool"], feats[id(fake)]["pool"])
        settings.update(pr_k=3)
        if wanted["dc"]:
            results["density"], results["coverage"] = density_coverage(feats[id(real)]["pool"], feats[id(fake)]["pool"])
            settings.update(dc_k=5)
    settings.update(seed=seed)
