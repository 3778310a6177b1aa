"""Run configs are dataclasses whose fields carry their help text, choices and bounds.

The same table drives the `cgan train <family>` options, validation, and the JSON stored in every
checkpoint, so the CLI, the API and a resumed run cannot disagree about a default. This package imports
no torch: each family's config module (`cgan_cli/config/<family>.py`) holds its options, the paper's
defaults in its docstring, and its `FamilySpec`, which is all `--help` and shell completion read. The
family's code (cgan_cli/families/) is imported only when a family is built.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cgan_cli.errors import UsageError

C = TypeVar("C")


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
    required: bool = False,
    path: bool = False,
    cli: bool = True,
    bare: Any = None,
) -> Any:
    """A config field: its default, `--help` text, allowed values; `path=True` is stored absolute;
    `cli=False` hides it from the CLI; `bare`: the value the flag takes when given without one."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "required": required, "path": path, "cli": cli,
            "bare": bare}  # fmt: skip
    return field(default=default, metadata=meta)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def validate(cfg: Any) -> None:
    """Range and choice checks, reported with the option's own flag name (exit 2)."""
    for f in dataclasses.fields(cfg):
        value, meta = getattr(cfg, f.name), f.metadata
        flag = flag_name(f.name)
        if meta.get("required") and value in ("", None):
            raise UsageError(f"{flag} is required")
        if value is None:  # an optional setting left to its default
            continue
        if meta.get("choices") and value not in meta["choices"]:
            raise UsageError(f"{flag} must be one of {', '.join(meta['choices'])} (got {value!r})")
        if meta.get("min") is not None and value < meta["min"]:
            raise UsageError(f"{flag} must be at least {meta['min']} (got {value})")
        if meta.get("max") is not None and value > meta["max"]:
            raise UsageError(f"{flag} must be at most {meta['max']} (got {value})")
    check = getattr(cfg, "check", None)
    if check is not None:
        check()


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a config from checkpoint JSON; keys unknown to this version are ignored, new ones defaulted."""
    names = {f.name for f in dataclasses.fields(cls)}
    types = field_types(cls)
    values = {}
    for key, value in data.items():
        if key in names:
            values[key] = tuple(value) if isinstance(value, list) and "tuple" in str(types[key]) else value
    return cls(**values)


@dataclass
class TrainConfig:
    """Options every family's trainer understands. Families subclass this and may change defaults."""

    steps: int = option(0, "Stop after this many steps (0: run the full --epochs + --epochs-decay schedule).", min=0)
    epochs: int = option(100, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(100, "Epochs over which the learning rate decays linearly to zero.", min=0)
    batch_size: int = option(1, "Images per step.", min=1)
    lr: float = option(2e-4, "Adam learning rate.", min=0.0)
    beta1: float = option(0.5, "Adam beta1.", min=0.0, max=1.0)
    beta2: float = option(0.999, "Adam beta2.", min=0.0, max=1.0)
    seed: int = option(0, "Random seed: the same seed and data give the same run.", min=0)
    save_every: int = option(1000, "Write a checkpoint every N steps (and always at the end).", min=1)
    keep: int = option(5, "Keep the newest N step checkpoints (0: keep all).", min=0)
    sample_every: int = option(500, "Write a sample grid of the fixed validation batch every N steps.", min=1)
    log_every: int = option(50, "Append losses to log.jsonl every N steps.", min=1)
    eval_every: int = option(0, "Every N steps (and at the start and the end) score the generator as `cgan eval` "
                             "would score the step's checkpoint, log it and keep best.safetensors (0: never). Needs "
                             "--eval-real.", min=0)  # fmt: skip
    eval_real: str = option("", "What --eval-every compares with: real images or a --save-stats file (noise-to-image "
                            "families), a paired validation folder of A|B files or A/ and B/ folders (translation "
                            "families), a captioned folder (text-to-image families).", path=True)  # fmt: skip
    eval_n: int = option(0, "Images each evaluation makes (0: as `cgan eval` would, one per --eval-real image).",
                         min=0)  # fmt: skip
    eval_metrics: str = option("", "What --eval-every computes, comma-separated, the first choosing best.safetensors "
                               "(default: fid, plus l1,psnr,ssim for translation families and clip-score for text "
                               "families trained from a --clip-weights file).")  # fmt: skip
    inception_weights: str = option("", "The FID Inception weights --eval-every uses (default: found as `cgan eval` "
                                    "finds them).", path=True)  # fmt: skip
    tensorboard: bool = option(False, "Also write losses, metrics and sample grids for TensorBoard to RUN/tensorboard "
                               "(pip install 'cgan-cli[tensorboard]').")  # fmt: skip


@dataclass(frozen=True)
class FamilySpec:
    """A model family as `cgan` knows it before any torch is imported: the registry's entry."""

    name: str
    Config: type[TrainConfig]
    makes: str  # "translations", "samples" or "text": what inference on a checkpoint produces
    code: str  # "module:Class" of the Family, imported when one is built or a checkpoint of it opened
    summary: str

    @property
    def details(self) -> str:
        """The paper and the defaults, for `cgan train NAME --help`: the docstring of the config's module."""
        return inspect.getdoc(sys.modules[self.Config.__module__]) or ""
