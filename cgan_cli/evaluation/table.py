"""The metrics `cgan eval` computes, one row each: its name, what it needs, the function that computes it, what it
records in the report's settings, and the result keys it yields (rows in output order).

Adding a metric is its module in cgan_cli/metrics (the mathematics, owned there) plus one row here. service.py
reads the rows: it makes what the chosen rows need once for all of them (one Inception pass per side, μ and Σ,
one pass over the paired files, the LPIPS and CLIP networks loaded before any long pass), checks that each side
can give it, and calls the rows. This module imports no torch: a row imports its metric module when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cgan_cli.console import warn
from cgan_cli.errors import CganError, UsageError
from cgan_cli.evaluation.options import EvalOptions

if TYPE_CHECKING:
    from PIL import Image
    from torch import Tensor

    from cgan_cli.evaluation.sides import Side
    from cgan_cli.metrics.lpips import LPIPS, LPIPSWeights
    from cgan_cli.text.clip import ImageEncoder, TextEncoder

# What a row can need. The service makes each once, for every chosen row that names it.
POOL = "pool"  # Inception pool features of REAL's and FAKE's images
LOGITS = "logits"  # Inception logits of FAKE's images (weights with the 1008-way classifier)
STATS = "stats"  # μ and Σ of REAL and FAKE: of their images, or read from a --save-stats file
PAIRS = "pairs"  # REAL's and FAKE's images sharing a relative path: the row gives one value per pair, averaged
CAPTIONS = "captions"  # FAKE's images (REAL's, without FAKE) with a caption each, and the scoring CLIP
LPIPS_NET = "lpips"  # the LPIPS network
INCEPTION = frozenset({POOL, LOGITS, STATS})  # what one Inception pass over the sides gives
PR_K, DC_K = 3, 5  # nearest neighbours: Kynkäänniemi et al.'s precision/recall, Naeem et al.'s density/coverage


@dataclass
class Inputs:
    """What the rows compute from, made once by the service for all of them. Features and statistics are keyed
    by role, "real" and "fake"."""

    options: EvalOptions
    real: Side
    fake: Side | None
    on_error: Callable[[str], None]  # an image that could not be read: reported, skipped
    features: dict[str, dict[str, Tensor]] = field(default_factory=dict)  # "pool" and, for IS, "logits"
    stats: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)  # μ, Σ
    lpips: LPIPS | None = None
    lpips_weights: LPIPSWeights | None = None
    clip: tuple[TextEncoder, ImageEncoder] | None = None

    @property
    def scored(self) -> Side:
        """The side CLIP score judges: FAKE, or REAL alone."""
        return self.fake if self.fake is not None else self.real

    def pool(self, role: str) -> Tensor:
        """Inception pool features of "real" or "fake"."""
        return self.features[role]["pool"]


@dataclass(frozen=True)
class Pair:
    """Two files sharing a relative path, as images and as (1, 3, H, W) tensors in [0, 1]."""

    key: str
    real: Image.Image
    fake: Image.Image
    real_tensor: Tensor
    fake_tensor: Tensor


@dataclass(frozen=True)
class Metric:
    """One row. A whole-set metric has `compute`; a paired one has `per_pair` and the single key it averages."""

    name: str  # its `cgan eval` flag without the dashes: how `evaluate` is asked for it
    label: str  # how an unmet need names it
    needs: frozenset[str]
    keys: tuple[str, ...]  # the result keys it yields, in output order
    compute: Callable[[Inputs], dict[str, float]] | None = None
    per_pair: Callable[[Pair, Inputs], float] | None = None
    record: Callable[[Inputs], dict[str, object]] | None = None  # what it adds to the settings
    includes: tuple[str, ...] = ()  # rows it extends, chosen with it (--prdc adds density and coverage to --pr)


def _fid(x: Inputs) -> dict[str, float]:
    from cgan_cli.metrics.fid import frechet_distance

    return {"fid": frechet_distance(*x.stats["real"], *x.stats["fake"])}


def _kid(x: Inputs) -> dict[str, float]:
    from cgan_cli.metrics.kid import kernel_inception_distance

    o = x.options
    mean, std, notes = kernel_inception_distance(
        x.pool("real"), x.pool("fake"), o.kid_subsets, o.kid_subset_size, seed=o.seed
    )
    for note in notes:
        warn(note)
    return {"kid_mean": mean, "kid_std": std}


def _kid_settings(x: Inputs) -> dict[str, object]:
    o = x.options
    return {"kid_subsets": o.kid_subsets, "kid_subset_size": o.kid_subset_size, "kid_degree": 3, "kid_coef0": 1.0}


def _is(x: Inputs) -> dict[str, float]:
    from cgan_cli.metrics.inception_score import inception_score

    mean, std = inception_score(x.features["fake"]["logits"], x.options.is_splits, seed=x.options.seed)
    return {"is_mean": mean, "is_std": std}


def _is_settings(x: Inputs) -> dict[str, object]:
    return {"is_splits": x.options.is_splits}


def _pr(x: Inputs) -> dict[str, float]:
    from cgan_cli.metrics.prdc import precision_recall

    precision, recall = precision_recall(x.pool("real"), x.pool("fake"), k=PR_K)
    return {"precision": precision, "recall": recall}


def _pr_settings(x: Inputs) -> dict[str, object]:
    return {"pr_k": PR_K}


def _dc(x: Inputs) -> dict[str, float]:
    from cgan_cli.metrics.prdc import density_coverage

    density, coverage = density_coverage(x.pool("real"), x.pool("fake"), k=DC_K)
    return {"density": density, "coverage": coverage}


def _dc_settings(x: Inputs) -> dict[str, object]:
    return {"dc_k": DC_K}


def _psnr(p: Pair, x: Inputs) -> float:
    from cgan_cli.metrics.paired import psnr

    return min(float(psnr(p.real_tensor, p.fake_tensor)[0]), 100.0)  # identical images: cap the infinite PSNR


def _ssim(p: Pair, x: Inputs) -> float:
    from cgan_cli.metrics.paired import ssim

    return float(ssim(p.real_tensor, p.fake_tensor)[0])


def _l1(p: Pair, x: Inputs) -> float:
    from cgan_cli.metrics.paired import l1

    return float(l1(p.real_tensor, p.fake_tensor)[0])


def _lpips(p: Pair, x: Inputs) -> float:
    if x.lpips is None:
        raise ValueError("paired metric lpips needs an LPIPS network")
    return x.lpips.images(p.real, p.fake)


def _lpips_settings(x: Inputs) -> dict[str, object]:
    return x.lpips_weights.settings() if x.lpips_weights is not None else {}


def _clip(x: Inputs) -> dict[str, float]:
    from cgan_cli.evaluation.sides import with_captions
    from cgan_cli.metrics.clip_score import clip_score, clip_scores

    if x.clip is None:
        raise ValueError("CLIP score needs a CLIP model")
    side, (text_encoder, image_encoder) = x.scored, x.clip
    if side.restart is not None:
        side.restart()

    def images() -> Iterable[Image.Image | None]:
        for _, load in side.loaders:
            try:
                yield load()
            except CganError as exc:
                x.on_error(str(exc))
                yield None

    scores = clip_scores(images(), with_captions(side), image_encoder, text_encoder, x.options.batch_size)
    return {"clip_score": clip_score(scores)}


def _clip_settings(x: Inputs) -> dict[str, object]:
    if x.clip is None:
        return {}
    return {"clip_backbone": x.clip[0].spec.describe(), "clip_sha256": x.clip[0].sha256}


def _needs(*names: str) -> frozenset[str]:
    return frozenset(names)


METRICS: tuple[Metric, ...] = (
    Metric("fid", "FID", _needs(STATS), ("fid",), compute=_fid),
    Metric("kid", "KID", _needs(POOL), ("kid_mean", "kid_std"), compute=_kid, record=_kid_settings),
    Metric("is", "IS", _needs(LOGITS), ("is_mean", "is_std"), compute=_is, record=_is_settings),
    Metric("pr", "precision/recall", _needs(POOL), ("precision", "recall"), compute=_pr, record=_pr_settings),
    Metric("prdc", "PRDC", _needs(POOL), ("density", "coverage"), compute=_dc, record=_dc_settings, includes=("pr",)),
    Metric("psnr", "PSNR", _needs(PAIRS), ("psnr",), per_pair=_psnr),
    Metric("ssim", "SSIM", _needs(PAIRS), ("ssim",), per_pair=_ssim),
    Metric("l1", "L1", _needs(PAIRS), ("l1",), per_pair=_l1),
    Metric("lpips", "LPIPS", _needs(PAIRS, LPIPS_NET), ("lpips",), per_pair=_lpips, record=_lpips_settings),
    Metric("clip-score", "CLIP score", _needs(CAPTIONS), ("clip_score",), compute=_clip, record=_clip_settings),
)
BY_NAME = {m.name: m for m in METRICS}
ORDER = tuple(key for m in METRICS for key in m.keys)  # the output's key order
PAIRED = tuple(m.name for m in METRICS if PAIRS in m.needs)


def select(names: Iterable[str], save_stats: bool = False) -> list[Metric]:
    """The rows `names` ask for, with the rows they include, in table order. None and no --save-stats: FID alone,
    as `cgan eval REAL FAKE` computes."""
    wanted = set(names)
    if unknown := sorted(wanted - set(BY_NAME)):
        raise UsageError(f"unknown metric {', '.join(unknown)}: choose from {', '.join(BY_NAME)}")
    if not wanted and not save_stats:
        wanted = {"fid"}
    for name in list(wanted):
        wanted.update(BY_NAME[name].includes)
    return [m for m in METRICS if m.name in wanted]
