"""What every z-to-image family shares (the DCGAN-backbone families, ProGAN): G, D and G's EMA copy, and the
data side: an image folder or class folders, the channels and class names found there and kept in the config
(so a checkpoint rebuilds its networks alone, and a resumed run refuses data whose classes changed), and the
fixed validation latents, their sample grids and diversity figure. The networks and the training step are
the families'.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.inference import SampleOptions
from cgan_cli.data.classes import LabelledDataset, LabelledImages, detect_channels, find_classes, find_images
from cgan_cli.data.grid import grid
from cgan_cli.device import Runtime
from cgan_cli.errors import DataError
from cgan_cli.families.base import Family, load_net
from cgan_cli.nn.ema import EMA

GRID_COLUMNS = 8


class LatentData(Family):
    conditional: ClassVar[bool] = False  # trained on class folders (the config may decide: `uses_classes`)

    def __init__(self, config: Any, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        self._data: LabelledImages | None = None
        if config.channels == 0 or (self.uses_classes() and not config.class_names):
            data = self.data()
            channels = config.channels or detect_channels([p for p, _ in data.items])
            self.config = dataclasses.replace(config, channels=channels, class_names=data.names)

    def add_pair(self, G: nn.Module, D: nn.Module) -> None:
        """G and D on the device, and G's EMA copy (`--ema`) as net G_ema, which inference prefers."""
        self.G = self.add_net("G", G)
        self.D = self.add_net("D", D)
        self.ema = EMA(self.G) if self.config.ema > 0 else None
        if self.ema is not None:
            self.nets["G_ema"] = self.ema.model

    def uses_classes(self) -> bool:
        return self.conditional

    def find_data(self, root: Path) -> LabelledImages:
        return find_classes(root) if self.uses_classes() else find_images(root)

    def data(self) -> LabelledImages:
        if self._data is None:
            root = self.config.data_root()
            self._data = self.find_data(root)
            saved = self.config.class_names
            if saved and self._data.names != saved:
                raise DataError(
                    f"{root}: classes {', '.join(self._data.names)} differ from this run's {', '.join(saved)}"
                )
        return self._data

    def dataset(self) -> LabelledDataset:
        cfg = self.config
        return LabelledDataset(self.data(), cfg.image_size, cfg.channels, flip=cfg.flip)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        """Fixed latents (from --seed): one row per class (up to 10), or 8×8 when unconditional."""
        conditional = self.uses_classes()
        rows = min(len(self.config.class_names), 10) if conditional else GRID_COLUMNS
        g = torch.Generator().manual_seed(self.config.seed)
        z = torch.randn(rows * GRID_COLUMNS, self.config.z_dim, generator=g)
        labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS) if conditional else torch.zeros(len(z))
        return {"z": z, "label": labels.long()}

    # --- what the trainer shows ------------------------------------------------------------------
    @torch.no_grad()
    def validation_images(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The (EMA) generator's images of the fixed validation batch, in eval mode."""
        G = self.ema.model if self.ema is not None else self.G
        was_training = G.training
        G.eval()
        try:
            return G(batch["z"], G.class_vector(batch["label"])).float()
        finally:
            G.train(was_training)

    def show(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        images = self.validation_images(batch)  # one forward pass for the grid and its figure
        return _grid(images), _stats(images)

    def sample_stats(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return _stats(self.validation_images(batch))

    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return _grid(self.validation_images(batch))

    # --- inference ----------------------------------------------------------------------------
    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        return ("net/G", "net/G_ema")

    @classmethod
    def load_generator(cls, net: nn.Module, ckpt: Checkpoint, options: SampleOptions) -> bool:
        """Load the EMA weights into `net` when asked for and present, else the raw G's; whether EMA was used."""
        use_ema = options.ema and any(k.startswith("net/G_ema/") for k in ckpt.tensors)
        load_net(net, ckpt, "G_ema" if use_ema else "G")
        return use_ema


def _grid(images: torch.Tensor) -> torch.Tensor:
    return grid([list(images[i : i + GRID_COLUMNS]) for i in range(0, len(images), GRID_COLUMNS)])


def _stats(images: torch.Tensor) -> dict[str, float]:
    return {"diversity": round(float(diversity(images, GRID_COLUMNS)), 6)}


def diversity(images: torch.Tensor, group: int) -> torch.Tensor:
    """Mean pairwise RMS pixel distance between the images of each consecutive `group` (a row of the
    validation grid: one class, different z), averaged over rows: 0 when G ignores z (mode collapse);
    two independent images uniform in [-1, 1] are about 0.82 apart."""
    rows = images.float().flatten(1).split(group)
    scores = []
    for row in rows:
        if len(row) > 1:
            d = torch.cdist(row, row) / row.shape[1] ** 0.5  # RMS distance per pair
            scores.append(d.sum() / (len(row) * (len(row) - 1)))
    return torch.stack(scores).mean() if scores else torch.zeros(())
