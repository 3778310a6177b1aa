"""The train service: start a run of a family from its options, or resume one from its checkpoint alone.

It joins this process to its torchrun group (one device per rank), builds the family with the command's
`Runtime`, and hands it to the one training loop (cgan_cli/trainer.py), which owns everything after that.
Parsing the flags is the CLI's; what a family trains is the family's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.config import validate
from cgan_cli.device import Runtime, check_precision, resolve_device
from cgan_cli.distributed import World
from cgan_cli.errors import CheckpointError, UsageError
from cgan_cli.families import family_class, family_spec
from cgan_cli.families.base import Family, open_checkpoint
from cgan_cli.trainer import Interrupted, Trainer


@dataclass(frozen=True)
class RunOptions:
    """How to run, not what to train: none of it is stored in the config."""

    device: str = "auto"
    workers: int = 0
    compile: bool = False
    sync_bn: bool = False
    precision: str = "auto"


@dataclass(frozen=True)
class Finished:
    checkpoint: Path  # the last checkpoint written
    main: bool  # this process is rank 0 (the one that writes and reports)


def start(name: str, values: dict[str, Any], run_dir: Path, options: RunOptions) -> Finished:
    """A new run of family `name` with config `values` (data folders are stored absolute, so a resumed run
    finds them from anywhere)."""
    spec = family_spec(name, "cgan train")
    if (run_dir / "latest.safetensors").exists():
        raise UsageError(
            f"{run_dir} already holds a run: continue it with `cgan train --resume {run_dir}/latest.safetensors`"
            " or choose another --out"
        )
    paths = {f.name for f in dataclasses.fields(spec.Config) if f.metadata.get("path")}
    values = {k: str(Path(v).resolve()) if k in paths and v else v for k, v in values.items()}
    cfg = spec.Config(**values)
    validate(cfg)
    family = family_class(name)(cfg, _runtime(options))
    return _fit(family, run_dir, options)


def resume(checkpoint: Path, options: RunOptions, steps: int | None = None,
           clip_weights: Path | None = None) -> Finished:  # fmt: skip
    """Continue a run exactly where its checkpoint stopped; `steps` moves the stop step, `clip_weights` says
    where a text run's CLIP weights are now (the same encoder is checked)."""
    cls, ckpt = open_checkpoint(checkpoint, "none")  # header first: family and config
    if ckpt.state.get("export"):
        raise CheckpointError(f"{checkpoint}: an inference-only export (cgan export) cannot resume training; "
                              "resume from the run's own checkpoint")  # fmt: skip
    cfg = cls.config_from(ckpt)
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    if clip_weights is not None:
        if not hasattr(cfg, "clip_weights"):
            raise UsageError(f"--clip-weights: {checkpoint} is a {ckpt.family} run, which has no text encoder")
        cfg = dataclasses.replace(cfg, clip_weights=str(clip_weights.resolve()))
    validate(cfg)
    family = cls(cfg, _runtime(options))
    return _fit(family, checkpoint.parent, options, checkpoint)


def _runtime(options: RunOptions) -> Runtime:
    """This process's device (under torchrun: its rank's, with the process group joined) and precision."""
    check_precision(options.precision)  # a usage error before any process group is joined
    world = World.detect()
    device: torch.device = world.device(resolve_device(options.device))
    world.start(device)
    return Runtime(device, options.precision, options.compile)


def _fit(family: Family, run_dir: Path, options: RunOptions, resume_from: Path | None = None) -> Finished:
    trainer = Trainer(family, run_dir, options.workers, options.sync_bn)
    clean = False
    try:
        if resume_from is not None:
            trainer.restore(load_checkpoint(resume_from))
        path = trainer.fit()
        clean = True
    except Interrupted:
        clean = True  # every rank agreed to stop at the same step and saved together
        raise
    finally:
        trainer.world.stop(clean)
    return Finished(path, trainer.world.main)
