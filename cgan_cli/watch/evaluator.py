"""--eval-every: score the generator while it trains, exactly as `cgan eval` scores a checkpoint, and keep the best.

At step 0 of a new run (where the curve starts), every N-th step and the last, the training loop saves the step's
checkpoint and hands it here. This module
calls the evaluation service (cgan_cli/evaluation) on that file with the options `cgan eval REAL CKPT` would take
(the EMA generator when there is one, sampling families' seeds 0…n−1, translation families' paired validation
folder at the training crop size, text families' captions), appends the report to log.jsonl, and points
RUN/best.safetensors at the checkpoint whose first metric is the best so far. REAL's Inception features are
computed once and cached (the feature cache of `cgan eval --cache`; a statistics file needs nothing).

The evaluation runs with the training RNG set aside, so a run with --eval-every trains exactly as one without.
The checkpoint of an evaluated step is written before its score is known, so it records the evaluation as
pending; `--resume` from it takes the score from log.jsonl or, if the run died mid-evaluation, evaluates again:
the best so far and the schedule continue exactly. Under torchrun rank 0 evaluates while the others wait.
Training owns the schedule's step numbers; what each metric is stays cgan_cli/evaluation's.
"""

from __future__ import annotations

import contextlib
import random
import shlex
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cgan_cli.checkpoint import link_or_copy, read_metadata
from cgan_cli.config import TrainConfig
from cgan_cli.console import warn
from cgan_cli.data.paired import find_pairs
from cgan_cli.errors import CganError, UsageError
from cgan_cli.evaluation import table
from cgan_cli.evaluation.options import EvalOptions
from cgan_cli.evaluation.sides import paired_folders
from cgan_cli.metrics.stats import is_stats_file
from cgan_cli.watch import runlog

BEST = "best.safetensors"
HIGHER_IS_BETTER = frozenset({"psnr", "ssim", "is_mean", "precision", "recall", "density", "coverage", "clip_score"})
PAIRED_DEFAULT = ("l1", "psnr", "ssim")


@dataclass
class Best:
    metric: str  # the result key that decides, e.g. "fid"
    value: float
    step: int

    def beaten_by(self, value: float) -> bool:
        return value > self.value if self.metric in HIGHER_IS_BETTER else value < self.value


def default_metrics(cfg: TrainConfig, makes: str) -> list[str]:
    """FID, plus the paired metrics of a translation family's validation pairs, plus CLIP score for a text family
    whose CLIP has real weights (a local file or a pretrained tag: either holds the image tower too)."""
    if makes == "translations":
        return ["fid", *PAIRED_DEFAULT]
    if makes == "text" and (getattr(cfg, "clip_weights", "") or getattr(cfg, "clip_pretrained", "none") != "none"):
        return ["fid", "clip-score"]
    return ["fid"]


class Evaluator:
    """The --eval-every schedule of one run, its evaluations, and the best checkpoint so far."""

    def __init__(self, cfg: TrainConfig, makes: str, run_dir: Path, device: torch.device, blocker: str = "") -> None:
        self.cfg, self.makes, self.run_dir, self.device = cfg, makes, run_dir, device
        names = [m.strip() for m in cfg.eval_metrics.split(",") if m.strip()] or default_metrics(cfg, makes)
        self.rows = self._check(names, blocker)
        self.metric = self.rows[0].keys[0]  # the first metric's first result decides best.safetensors
        self.best: Best | None = None
        self.pending: int | None = None  # the step whose checkpoint is saved but not yet scored
        self.latest: dict[str, float] = {}

    # --- before training ----------------------------------------------------------------------------
    def _check(self, names: list[str], blocker: str) -> list[table.Metric]:
        """Everything that can be checked before the first step: a misconfigured evaluation fails now, not after
        hours of training."""
        cfg = self.cfg
        if not cfg.eval_real:
            raise UsageError("--eval-every needs --eval-real: the images (or statistics) to compare with")
        if blocker:
            raise UsageError(f"--eval-every: {blocker}")
        rows = table.select(names)
        real = Path(cfg.eval_real)
        if not real.exists():
            raise UsageError(f"--eval-real {real}: no such folder or file")
        paired = [m.name for m in rows if table.PAIRS in m.needs]
        if is_stats_file(real):
            if self.makes != "samples":
                raise UsageError(f"--eval-real {real}: a statistics file holds no validation pairs or captions; "
                                 "give a folder")  # fmt: skip
            if needy := [m.name for m in rows if m.needs & {table.POOL, table.PAIRS, table.CAPTIONS}]:
                raise UsageError(f"--eval-real {real} holds only FID statistics, which {', '.join(needy)} cannot use")
        elif not real.is_dir():
            raise UsageError(f"--eval-real {real}: not a folder of images or a --save-stats file")
        if self.makes == "translations" and paired_folders(real) is None:
            find_pairs(real, "")  # A|B files: the same checks as training data, one line naming a bad file
        if paired and self.makes != "translations":
            raise UsageError(f"--eval-metrics {','.join(paired)}: paired metrics need a translation family")
        if self.makes == "samples" and any(table.CAPTIONS in m.needs for m in rows):
            raise UsageError("--eval-metrics clip-score needs a text-to-image family")
        if any(m.needs & table.INCEPTION for m in rows):
            from cgan_cli.metrics.inception import find_inception_weights

            find_inception_weights(Path(cfg.inception_weights) if cfg.inception_weights else None)  # or download now
        return rows

    def options(self) -> EvalOptions:
        """What `cgan eval` would be told for this run's checkpoints."""
        cfg = self.cfg
        size = getattr(cfg, "crop_size", None) if self.makes == "translations" else None
        return EvalOptions(
            inception_weights=Path(cfg.inception_weights) if cfg.inception_weights else None,
            cache=True,
            device=str(self.device),
            n=cfg.eval_n or None,
            aligned=self.makes == "translations",
            size=size,
            workers=4,
            **self._clip(),
        )

    def _clip(self) -> dict[str, Any]:
        """CLIP score with the run's own CLIP: the text tower it trained with, and its image tower."""
        cfg = self.cfg
        if self.makes != "text":
            return {}
        weights = getattr(cfg, "clip_weights", "")
        return {"clip_model": cfg.clip_model, "clip_pretrained": cfg.clip_pretrained,
                "clip_weights": Path(weights) if weights else None}  # fmt: skip

    def command(self, checkpoint: Path) -> str:
        """The `cgan eval` command that gives the same numbers for `checkpoint` (on the same device and threads)."""
        o = self.options()
        argv = ["cgan", "eval", self.cfg.eval_real, str(checkpoint), *(f"--{m.name}" for m in self.rows)]
        argv += ["--device", o.device]
        argv += ["--aligned"] * o.aligned + (["--size", str(o.size)] if o.size else [])
        argv += ["-n", str(o.n)] if o.n else []
        argv += ["--inception-weights", str(o.inception_weights)] if o.inception_weights else []
        if "clip-score" in self.names:
            argv += ["--clip-model", o.clip_model, "--clip-pretrained", o.clip_pretrained or "none"]
            argv += ["--clip-weights", str(o.clip_weights)] if o.clip_weights else []
        return shlex.join(argv)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.rows]

    # --- the schedule ---------------------------------------------------------------------------------
    def due(self, step: int, total: int) -> bool:
        return step % self.cfg.eval_every == 0 or step == total

    def state(self) -> dict[str, Any]:
        """What a checkpoint records: the best so far and the step it was saved to be scored at, if any."""
        return {"best": asdict(self.best) if self.best else None, "pending": self.pending}

    def restore(self, state: dict[str, Any] | None) -> None:
        state = state or {}
        best = state.get("best")
        self.best = Best(**best) if best and best.get("metric") == self.metric else None
        self.pending = state.get("pending")

    def resume(self, checkpoint: Path, step: int, epoch: int) -> None:
        """On --resume: a checkpoint saved to be scored gets its score, from log.jsonl if the evaluation finished,
        else by evaluating it now; best.safetensors is checked against the best so far."""
        if self.pending is not None and self.pending == step:
            done = [r for r in runlog.read(self.run_dir) if r["step"] == step and "eval" in r]
            if done and self.metric in done[-1]["eval"]:
                self._record(checkpoint, step, done[-1]["eval"], log=None)
            else:
                self.evaluate(checkpoint, step, epoch)
        self.pending = None
        if self.best is not None:
            best_file = self.run_dir / BEST
            saved = _step_of(best_file)
            if saved != self.best.step and self.best.step == step:
                link_or_copy(checkpoint, best_file)  # the run died between the checkpoint and its link
            elif saved != self.best.step:
                warn(f"{best_file} holds step {saved}, not this run's best so far (step {self.best.step}, "
                     f"{self.metric} {self.best.value:.4g}); it is replaced when an evaluation beats that")  # fmt: skip

    # --- an evaluation --------------------------------------------------------------------------------
    def evaluate(self, checkpoint: Path, step: int, epoch: int) -> dict[str, float]:
        """Score `checkpoint` (the step's own file) as `cgan eval` would, log it, and keep it as best.safetensors
        if its first metric beats the best so far. An evaluation that fails is logged and training goes on."""
        from cgan_cli.evaluation.service import evaluate

        started = time.perf_counter()
        problems: list[str] = []
        try:
            with _rng_set_aside(self.device):
                report = evaluate(self.cfg.eval_real, checkpoint, self.names, self.options(), problems.append)
        except CganError as exc:
            warn(f"evaluation at step {step} failed: {exc}")
            runlog.append(self.run_dir, {"step": step, "epoch": epoch, "eval_error": str(exc)})
            return {}
        for message in problems[:3]:
            warn(f"evaluation at step {step}: {message}")
        log = {"step": step, "epoch": epoch, "eval_s": round(time.perf_counter() - started, 3),
               "command": self.command(checkpoint)}  # fmt: skip
        return self._record(checkpoint, step, report.as_dict(), log)

    def _record(self, checkpoint: Path, step: int, results: dict[str, Any], log: dict[str, Any] | None
                ) -> dict[str, float]:  # fmt: skip
        value = results.get(self.metric)
        if isinstance(value, (int, float)) and (self.best is None or self.best.beaten_by(value)):
            self.best = Best(self.metric, float(value), step)
            link_or_copy(checkpoint, self.run_dir / BEST)
        self.latest = {k: v for k, v in results.items() if k != "settings"}
        if log is not None:
            runlog.append(self.run_dir, {**log, "eval": results, "best": asdict(self.best) if self.best else None,
                                         "time": round(time.time(), 3)})  # fmt: skip
        return self.latest

    def status(self) -> str:
        """The latest scores and the best so far, for the progress line."""
        shown = " ".join(f"{k} {v:.4g}" for k, v in self.latest.items() if not k.endswith("_std"))
        best = f" (best {self.best.value:.4g} @ {self.best.step})" if self.best else ""
        return shown + best


@contextlib.contextmanager
def _rng_set_aside(device: torch.device) -> Iterator[None]:
    """Whatever the evaluation draws, training's random streams (torch, CUDA, Python, NumPy) continue untouched."""
    py, npy = random.getstate(), np.random.get_state()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


def _step_of(path: Path) -> int | None:
    """The step a checkpoint file records, None if it is missing or unreadable."""
    try:
        return int(read_metadata(path)["step"])
    except (CganError, OSError, KeyError, ValueError):
        return None
