"""Everything `cgan eval` can be told besides which metrics: one options object, and the choices it is checked against.

Torch-free on purpose: the CLI (and anything else declaring options) can take these names without importing torch,
numpy or PIL, so `cgan eval --help` stays fast. What the options mean for a computation is service.py's and
table.py's; the resize modes (metrics/features.py) and the Inception network's own layer table stay in
cgan_cli/metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

DIMS = (64, 192, 768, 2048)  # the FID Inception's feature layers, by width
LPIPS_NETS = ("alex", "vgg")


@dataclass(frozen=True)
class EvalOptions:
    """How to evaluate, with the CLI's defaults. Fields that change a number are recorded in the report's settings."""

    # Inception features (FID, KID, IS, precision/recall)
    dims: int = 2048
    resize: str = "pytorch-fid"
    inception_weights: Path | None = None
    batch_size: int = 50
    workers: int = 4  # decode threads (the CLI uses up to 16)
    cache: bool = False  # reuse features of unchanged folders
    device: str = "auto"
    save_stats: Path | None = None  # write REAL's μ, Σ and count here
    # metric parameters
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    is_splits: int = 10
    seed: int = 0  # KID subsets and IS shuffling
    lpips_net: str | None = None  # None: the weights file's net, else alex
    lpips_weights: Path | None = None
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"
    clip_weights: Path | None = None
    # a checkpoint as FAKE
    n: int | None = None  # images to make (sampling default: as many as REAL)
    inputs: Path | None = None  # a translation checkpoint translates these
    aligned: bool = False  # REAL is a paired folder (A|B files, or A/ and B/): translate one side, compare the other
    size: int | None = None  # translate at size × size, and compare with REAL's images resized to it
    text_encoder_weights: Path | None = None  # a text checkpoint's CLIP weights, if moved


class ProgressBars(Protocol):
    """What `evaluate` drives while it extracts features: a rich `Progress` fits, or anything used the same way
    (entered around the pass, one task per image set, advanced by images done)."""

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: object) -> Any: ...

    def add_task(self, description: str, *, total: float | None) -> Any: ...

    def advance(self, task_id: Any, advance: float = 1) -> None: ...
