"""`cgan train <family> …` and `cgan train --resume RUN/latest.safetensors`.

Each family's options are generated from its config dataclass, so `--help`, validation and the
config stored in checkpoints come from one table.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import sys
from pathlib import Path
from typing import Annotated, Any

import torch
import typer

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli.common import DEVICE_HELP, WORKERS_HELP, Precision, default_workers, exits_cleanly
from cgan_cli.config import TrainConfig, field_types, flag_name, validate
from cgan_cli.console import out
from cgan_cli.device import resolve_device, set_precision
from cgan_cli.distributed import World
from cgan_cli.errors import CheckpointError, UsageError
from cgan_cli.families import FAMILIES, Family, family_class
from cgan_cli.trainer import Trainer

# runtime options: how to run, not what to train, so they are not part of the stored config
Device = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
Workers = Annotated[int, typer.Option("--workers", help=WORKERS_HELP, min=0)]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the networks.")]
SyncBN = Annotated[
    bool, typer.Option("--sync-bn", help="Under torchrun on CUDA: batch-norm statistics over the global batch.")
]

app = typer.Typer(
    help="Train a model. `cgan train FAMILY --help` lists a family's options.",
    no_args_is_help=False,
)


def run(family: Family, run_dir: Path, workers: int, resume: Path | None = None, sync_bn: bool = False) -> Path:
    trainer = Trainer(family, run_dir, workers, sync_bn)
    try:
        if resume is not None:
            trainer.restore(load_checkpoint(resume))
        path = trainer.fit()
    finally:
        trainer.world.stop()
    if trainer.world.main:
        out(str(path))
    return path


def joined_device(device: str) -> torch.device:
    """The device of this process; under torchrun also joins the process group (one device per rank)."""
    world = World.detect()
    dev = world.device(resolve_device(device))
    world.start(dev)
    return dev


@app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue a run exactly from its checkpoint; no other flags needed.")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="With --resume: a new stop step.", min=1)] = None,
    clip_weights: Annotated[
        Path | None,
        typer.Option("--clip-weights", help="With --resume of a text-to-image run: where its CLIP weights are now."),
    ] = None,
    device: Device = "auto",
    workers: Workers = default_workers(),
    compile: Compile = False,
    sync_bn: SyncBN = False,
    precision: Precision = "auto",
) -> None:
    if ctx.invoked_subcommand is not None:
        if resume is not None:
            raise typer.BadParameter("give either --resume or a family, not both", param_hint="--resume")
        return
    if resume is None:
        typer.echo(ctx.get_help(), err=True)
        raise typer.Exit(2)
    set_precision(precision)
    _resume(resume, steps, device, workers, compile, clip_weights, sync_bn)


@exits_cleanly
def _resume(resume: Path, steps: int | None, device: str, workers: int, compile: bool,
            clip_weights: Path | None = None, sync_bn: bool = False) -> None:  # fmt: skip
    ckpt = load_checkpoint(resume, groups=())  # header first: family and config
    if ckpt.state.get("export"):
        raise CheckpointError(f"{resume}: an inference-only export (cgan export) cannot resume training; "
                              "resume from the run's own checkpoint")  # fmt: skip
    cls = family_class(ckpt.family, resume)
    cfg = cls.config_from(ckpt)
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    if clip_weights is not None:
        if not hasattr(cfg, "clip_weights"):
            raise UsageError(f"--clip-weights: {resume} is a {ckpt.family} run, which has no text encoder")
        cfg = dataclasses.replace(cfg, clip_weights=str(clip_weights.resolve()))  # the same encoder is checked
    validate(cfg)
    family = cls(cfg, joined_device(device), compile)
    run(family, resume.parent, workers, resume, sync_bn)


def _option_for(name: str, typ: Any, f: dataclasses.Field) -> tuple[Any, Any]:
    """(annotation, default) of a typer parameter for config field `f`."""
    meta = f.metadata
    flag = flag_name(name)
    kwargs: dict[str, Any] = {"help": meta.get("help"), "show_default": not meta.get("required")}
    default = ... if meta.get("required") else f.default
    if meta.get("choices"):
        choices = enum.Enum(f"{name}_choice", {c: c for c in meta["choices"]}, type=str)
        return Annotated[choices, typer.Option(flag, **kwargs)], (default if default is ... else choices(default))
    if typ is bool:
        return Annotated[bool, typer.Option(f"{flag}/--no-{flag[2:]}", **kwargs)], default
    return Annotated[typ, typer.Option(flag, **kwargs)], default


def _family_command(cls: type[Family]) -> None:
    types = field_types(cls.Config)
    shared = {f.name for f in dataclasses.fields(TrainConfig)}
    fields = [f for f in dataclasses.fields(cls.Config) if f.metadata.get("cli", True)]
    fields.sort(key=lambda f: f.name in shared)  # the family's own options first, then the trainer's
    params = [
        inspect.Parameter(
            "out",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[
                Path, typer.Option("--out", "-o", help="Run folder: checkpoints, samples/ and log.jsonl go here.")
            ],
        ),
    ]
    for f in fields:
        annotation, default = _option_for(f.name, types[f.name], f)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default))
    params += [
        inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default="auto", annotation=Device),
        inspect.Parameter("workers", inspect.Parameter.KEYWORD_ONLY, default=default_workers(), annotation=Workers),
        inspect.Parameter("compile", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Compile),
        inspect.Parameter("sync_bn", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=SyncBN),
        inspect.Parameter("precision", inspect.Parameter.KEYWORD_ONLY, default="auto", annotation=Precision),
    ]

    @exits_cleanly
    def command(**values: Any) -> None:
        run_dir, device = values.pop("out"), values.pop("device")
        workers, compile, sync_bn = values.pop("workers"), values.pop("compile"), values.pop("sync_bn")
        set_precision(values.pop("precision"))
        values = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in values.items()}
        for f in fields:  # data folders are stored absolute so a resumed run finds them from anywhere
            if f.metadata.get("path") and values[f.name]:
                values[f.name] = str(Path(values[f.name]).resolve())
        if (run_dir / "latest.safetensors").exists():
            raise UsageError(
                f"{run_dir} already holds a run: continue it with `cgan train --resume {run_dir}/latest.safetensors`"
                " or choose another --out"
            )
        cfg = cls.Config(**values)
        validate(cfg)
        run(cls(cfg, joined_device(device), compile), run_dir, workers, sync_bn=sync_bn)

    del command.__wrapped__  # typer must read our signature, not the wrapped function's
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    details = inspect.getdoc(sys.modules[cls.__module__]) or ""
    app.command(cls.name, help=f"{cls.summary}\n\n{details}", short_help=cls.summary)(command)


for _cls in FAMILIES.values():
    _family_command(_cls)
