"""--tensorboard: the run's losses, learning rate, throughput, sample figures, evaluations and sample grids as
TensorBoard events in RUN/tensorboard, for users who already watch their runs there.

It mirrors what log.jsonl and samples/ hold (cgan_cli/watch/runlog.py names the keys); they stay the record.
Written through torch.utils.tensorboard, which needs the optional `tensorboard` package. A resumed run purges
the events an earlier session wrote after the checkpoint's step, as log.jsonl is rewound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from cgan_cli.data.io import tensor_to_image
from cgan_cli.errors import UsageError
from cgan_cli.watch.runlog import NOT_LOSSES, network_of

FOLDER = "tensorboard"


class Board:
    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            hint = "pip install 'cgan-cli[tensorboard]'"
            raise UsageError(f"--tensorboard needs the tensorboard package: {hint}") from None
        self.writer = SummaryWriter(str(run_dir / FOLDER), purge_step=None if resume_step is None else resume_step + 1)

    def losses(self, record: dict[str, Any]) -> None:
        step = record["step"]
        for key, value in record.items():
            if key not in NOT_LOSSES and isinstance(value, (int, float)):
                self.writer.add_scalar(f"loss/{network_of(key)}/{key}", value, step)
        self.writer.add_scalar("train/lr", record["lr"], step)
        self.writer.add_scalar("train/img_per_s", record["img_per_s"], step)

    def figures(self, step: int, figures: dict[str, float]) -> None:
        for key, value in figures.items():
            self.writer.add_scalar(f"samples/{key}", value, step)

    def metrics(self, step: int, results: dict[str, float]) -> None:
        for key, value in results.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"eval/{key}", value, step)

    def grid(self, step: int, image: Image.Image | torch.Tensor) -> None:
        """The sample grid exactly as samples/step-N.png holds it."""
        picture = tensor_to_image(image) if isinstance(image, torch.Tensor) else image
        self.writer.add_image("samples", np.asarray(picture.convert("RGB")), step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
