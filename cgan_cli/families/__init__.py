"""The model families by name (timm's `create_model` registry), importing no torch.

Each entry is a `FamilySpec` (cgan_cli/config/): the options `cgan train`, `--help` and shell completion
read, and where the family's code is. The code (networks and steps, on torch) is imported only when a
family is built or a checkpoint of it is opened (`family_class`). Adding a family is a config module with
its `SPEC`, a family module, and one line below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cgan_cli.config import (
    FamilySpec,
    TrainConfig,
    acgan,
    bicyclegan,
    cgan,
    cyclegan,
    dcgan,
    gancls,
    gigagan,
    infogan,
    pix2pix,
    progan,
    spade,
    stargan,
)
from cgan_cli.config.inference import ExportOptions, SampleOptions, TranslateOptions
from cgan_cli.errors import CheckpointError

if TYPE_CHECKING:
    import torch

    from cgan_cli.device import Runtime
    from cgan_cli.families.base import Family

FAMILIES: dict[str, FamilySpec] = {}


def register(spec: FamilySpec) -> FamilySpec:
    FAMILIES[spec.name] = spec
    return spec


for _module in (pix2pix, bicyclegan, cyclegan, stargan, dcgan, cgan, acgan, infogan, gancls, gigagan, progan, spade):
    register(_module.SPEC)


def family_spec(name: str, source: object = "checkpoint") -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise CheckpointError(f"{source}: unknown model family {name!r} (this cgan knows {known})") from None


def family_class(name: str, source: object = "checkpoint") -> type[Family]:
    """The family's code, imported now (the first call for a family imports torch)."""
    module, _, attr = family_spec(name, source).code.partition(":")
    return getattr(importlib.import_module(module), attr)


def create(name: str, config: TrainConfig, runtime: Runtime | torch.device) -> Family:
    """Build a family for training by name (`timm.create_model` style)."""
    return family_class(name)(config, runtime)


__all__ = [
    "FAMILIES",
    "ExportOptions",
    "FamilySpec",
    "SampleOptions",
    "TranslateOptions",
    "create",
    "family_class",
    "family_spec",
    "register",
]
