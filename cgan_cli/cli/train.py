"""`cgan train <family> …` and `cgan train --resume RUN/latest.safetensors`.

Each family's options are generated from its config dataclass (cgan_cli/config/), so `--help`,
validation and the config stored in checkpoints come from one table. A family's command is built when
it is first asked for (`cgan --help` builds none); building reads only the torch-free registry, and the
train service (cgan_cli/training.py) is imported when a command runs.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from cgan_cli.cli.common import HELP_MODE, WORKERS_HELP, Device, Precision, default_workers, exits_cleanly
from cgan_cli.config import FamilySpec, TrainConfig, field_types, flag_name
from cgan_cli.console import out

# runtime options: how to run, not what to train, so they are not part of the stored config
Workers = Annotated[int, typer.Option("--workers", help=WORKERS_HELP, min=0)]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the networks.")]
SyncBN = Annotated[
    bool, typer.Option("--sync-bn", help="Under torchrun on CUDA: batch-norm statistics over the global batch.")
]
RunFolder = Annotated[
    Path, typer.Option("--out", "-o", help="Run folder: checkpoints, samples/ and log.jsonl go here.")
]
RUNTIME = ("device", "workers", "compile", "sync_bn", "precision")



class FamilyCommands(TyperGroup):
    """`cgan train`'s subcommands: one per registered family, built from its config when first asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        from cgan_cli.families import FAMILIES

        return list(FAMILIES)

    def get_command(self, ctx: Any, name: str) -> Any:
        from cgan_cli.families import FAMILIES

        return family_command(FAMILIES[name]) if name in FAMILIES else None


app = typer.Typer(
    cls=FamilyCommands,
    help="Train a model. `cgan train FAMILY --help` lists a family's options.",
    no_args_is_help=False,
    rich_markup_mode=HELP_MODE,
)


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
    _resume(resume, steps, clip_weights, dict(device=device, workers=workers, compile=compile, sync_bn=sync_bn,
                                              precision=precision))  # fmt: skip


@exits_cleanly
def _resume(resume: Path, steps: int | None, clip_weights: Path | None, runtime: dict[str, Any]) -> None:
    from cgan_cli import training

    _report(training.resume(resume, training.RunOptions(**runtime), steps, clip_weights))


def _report(finished: Any) -> None:
    if finished.main:
        out(str(finished.checkpoint))


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


class BareValues(TyperCommand):
    """A family command whose options with a `bare` value may be given alone: `--minibatch-disc` means
    `--minibatch-disc 100` (typer's parser has no optional option values, so the value is put in first)."""

    bare: dict[str, str] = {}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        filled: list[str] = []
        for i, arg in enumerate(args):
            filled.append(arg)
            following = args[i + 1] if i + 1 < len(args) else None
            if arg in self.bare and (following is None or following.startswith("-") and not _number(following)):
                filled.append(self.bare[arg])
        return super().parse_args(ctx, filled)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@functools.cache
def family_command(spec: FamilySpec) -> Any:
    """The click command of `cgan train NAME`, its options generated from the family's config table."""
    types = field_types(spec.Config)
    shared = {f.name for f in dataclasses.fields(TrainConfig)}
    fields = [f for f in dataclasses.fields(spec.Config) if f.metadata.get("cli", True)]
    fields.sort(key=lambda f: f.name in shared)  # the family's own options first, then the trainer's
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("out", keyword, annotation=RunFolder)]
    for f in fields:
        annotation, default = _option_for(f.name, types[f.name], f)
        params.append(inspect.Parameter(f.name, keyword, annotation=annotation, default=default))
    params += [
        inspect.Parameter("device", keyword, default="auto", annotation=Device),
        inspect.Parameter("workers", keyword, default=default_workers(), annotation=Workers),
        inspect.Parameter("compile", keyword, default=False, annotation=Compile),
        inspect.Parameter("sync_bn", keyword, default=False, annotation=SyncBN),
        inspect.Parameter("precision", keyword, default="auto", annotation=Precision),
    ]

    @exits_cleanly
    def command(**values: Any) -> None:
        from cgan_cli import training

        run_dir = values.pop("out")
        options = training.RunOptions(**{k: values.pop(k) for k in RUNTIME})
        values = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in values.items()}
        _report(training.start(spec.name, values, run_dir, options))

    del command.__wrapped__  # typer must read our signature, not the wrapped function's
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    bare = {flag_name(f.name): str(f.metadata["bare"]) for f in fields if f.metadata.get("bare") is not None}
    kind = type("BareValues", (BareValues,), {"bare": bare})
    one = typer.Typer(rich_markup_mode=HELP_MODE, add_completion=False)
    one.command(spec.name, help=f"{spec.summary}\n\n{spec.details}", short_help=spec.summary, cls=kind)(command)
    return typer.main.get_command(one)
