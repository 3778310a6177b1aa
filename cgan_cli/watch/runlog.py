"""RUN/log.jsonl, the run's record: one JSON object per line, written by the training loop, read by `cgan plot`,
`cgan report` and anyone with `jq`.

Every line has "step" and "epoch". The kinds, told apart by their keys:
- losses, every --log-every steps: the family's losses, "lr", "img_per_s", "time";
- figures of the fixed validation samples, beside every sample grid: e.g. "diversity";
- evaluations (--eval-every): "eval" holds `cgan eval --json`'s object (the metrics and their "settings"), "best"
  the best so far ({"metric", "value", "step"}), "eval_s" the seconds it took.
Each line is one write of a whole line, so a reader sees complete lines, except perhaps a torn last one while
the run writes it (or a kill left), which `read` skips. A resumed run starts again from its checkpoint's step, so
`rewind` first moves what an earlier session logged after that step to log.abandoned.jsonl: log.jsonl stays the
one history that led to the newest checkpoint, and nothing is lost.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cgan_cli.data.atomic import atomic_write_bytes

LOG = "log.jsonl"
ABANDONED = "log.abandoned.jsonl"
NOT_LOSSES = frozenset({"step", "epoch", "lr", "img_per_s", "time"})


def append(run_dir: Path, record: dict[str, Any]) -> None:
    """Add one line, in one write, so a concurrent reader never sees half of it."""
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(run_dir / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("step"), int) else None


def read(run_dir: Path) -> list[dict[str, Any]]:
    """The records in order; a torn or garbled line is skipped."""
    path = run_dir / LOG
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return [r for r in map(_parse, f) if r is not None]


def rewind(run_dir: Path, step: int) -> int:
    """Before a session resumes at `step`: lines logged after it (and torn ones) move to log.abandoned.jsonl, and
    log.jsonl is replaced atomically by the rest. Returns how many lines moved."""
    path = run_dir / LOG
    if not path.is_file():
        return 0
    kept, moved = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            record = _parse(line)
            (kept if record is not None and record["step"] <= step else moved).append(line.rstrip("\n") + "\n")
    if moved:
        with open(run_dir / ABANDONED, "a", encoding="utf-8") as f:
            f.writelines(moved)
        atomic_write_bytes(path, "".join(kept).encode())
    return len(moved)


@dataclass
class Series:
    """One quantity over steps."""

    name: str
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, step: int, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self.steps.append(step)
            self.values.append(float(value))


@dataclass
class History:
    """A run's log sorted into what plots show: losses grouped by network, the learning rate, throughput, the
    sample figures and the evaluations."""

    losses: dict[str, dict[str, Series]]  # network ("G", "D", …) → loss name → series
    lr: Series
    throughput: Series
    figures: dict[str, Series]
    metrics: dict[str, Series]  # result key → series (kid_std and is_std left out: they go with their means)
    evals: list[dict[str, Any]]  # the evaluation records, in order

    @property
    def best(self) -> dict[str, Any] | None:
        return self.evals[-1].get("best") if self.evals else None

    @property
    def last_step(self) -> int:
        steps = [s.steps[-1] for group in self.losses.values() for s in group.values() if s.steps]
        steps += [e["step"] for e in self.evals]
        return max(steps, default=0)


def network_of(loss: str) -> str:
    """The network a loss trains, from its name: "D_real" → "D", "G_L1" → "G", "E_kl" → "E"; terms without such
    a prefix (CycleGAN's "cycle_A", "idt_B") are the generator's."""
    head = loss.split("_", 1)[0]
    return head if len(head) == 1 and head.isupper() else "G"


def history(records: Iterable[dict[str, Any]]) -> History:
    h = History({}, Series("lr"), Series("img/s"), {}, {}, [])
    for r in records:
        step = r["step"]
        if "eval" in r:
            h.evals.append(r)
            for key, value in r["eval"].items():
                if key != "settings" and not key.endswith("_std"):
                    h.metrics.setdefault(key, Series(key)).add(step, value)
        elif "lr" in r:
            h.lr.add(step, r["lr"])
            h.throughput.add(step, r.get("img_per_s"))
            for key, value in r.items():
                if key not in NOT_LOSSES:
                    h.losses.setdefault(network_of(key), {}).setdefault(key, Series(key)).add(step, value)
        else:
            for key, value in r.items():
                if key not in ("step", "epoch"):
                    h.figures.setdefault(key, Series(key)).add(step, value)
    return h
