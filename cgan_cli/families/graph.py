"""The vocabulary of exported graphs: which inputs a generator takes, which of their axes may vary, and
what each holds. Families describe their generator in these words (`Family.export_graph`);
cgan_cli/export.py writes the description to ONNX, TorchScript and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    from cgan_cli.families.base import Translator


@dataclass(frozen=True)
class Axis:
    """A dimension of an exported input that may vary: any size ≥ `least` that is a multiple of `multiple`."""

    name: str
    size: int  # in the example the graph is traced with (≥ 2 steps: exporters specialise sizes 0 and 1)
    multiple: int = 1
    least: int = 1  # in steps of `multiple`


BATCH = Axis("batch", 2)


@dataclass(frozen=True)
class GraphInput:
    """One named input of an exported generator, and what it must hold (written into the file's metadata)."""

    name: str
    shape: tuple[int | Axis, ...]
    # image: [-1, 1]; normal: N(0, 1); uniform: U(-1, 1); index: 0 … high-1; binary: 0/1; mask: True-prefixed; scalar
    kind: str
    meaning: str
    high: int = 0  # for kind "index"


@dataclass
class ExportGraph:
    """A generator as a plain module of tensors in, images out, ready for ONNX or TorchScript."""

    module: nn.Module  # forward(*inputs, in order) → (N, C, H, W) images in [-1, 1]
    inputs: tuple[GraphInput, ...]
    output: str  # what the output holds
    weights: str  # which network's weights, e.g. "G_ema" or "G_B"
    notes: dict[str, Any] = field(default_factory=dict)  # metadata: class names, text encoder, …


LATENT = "latent codes, N(0, 1) (cgan's seed s: torch.randn(z_dim, generator=torch.Generator().manual_seed(s)))"


def latent_inputs(z_dim: int, truncation: str) -> tuple[GraphInput, GraphInput]:
    """z and ψ, the inputs every noise-driven generator's graph starts and ends with."""
    return GraphInput("z", (BATCH, z_dim), "normal", LATENT), GraphInput("truncation", (1,), "scalar", truncation)


def image_input(name: str, channels: int, side: int, multiple: int, least: int = 1) -> GraphInput:
    """A batch of images whose sides may be any multiple of `multiple` (fully convolutional networks)."""
    steps = max(2, least, -(-side // multiple))
    h, w = (Axis(a, steps * multiple, multiple, least) for a in ("height", "width"))
    sides = f"H and W multiples of {multiple}" + (f", at least {least * multiple}" if least > 1 else "")
    return GraphInput(name, (BATCH, channels, h, w), "image", f"RGB/grey in [-1, 1] (pixel/127.5 - 1); {sides}")


def translation_graph(translator: Translator, side: int, weights: str, notes: dict[str, Any]) -> ExportGraph:
    """An image-to-image translator (an nn.Module) as an export graph: one image batch in, one out."""
    if not isinstance(translator.net, nn.Module):
        raise TypeError("translation_graph needs a translator whose net is a module")
    least = -(-translator.min_side // translator.multiple)
    image = image_input("image", translator.in_channels, side, translator.multiple, least)
    output = f"(N, {translator.out_channels}, H, W) in [-1, 1], the input's size"
    return ExportGraph(translator.net, (image,), output, weights, notes)
