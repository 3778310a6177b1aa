"""The live progress bar of `cgan train` on a terminal: the step count, ETA, steps and images per second, and a
status field the training loop fills with the latest losses, sample figures and scores. Off a terminal (or with
NO_COLOR) the bar is disabled and the loop prints a plain line per --log-every instead; that choice, and what the
status says, are the loop's (cgan_cli/trainer.py).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text


class RateColumn(ProgressColumn):
    """Steps and images per second, from rich's own speed estimate over the last updates."""

    def __init__(self, images_per_step: int) -> None:
        super().__init__()
        self.images_per_step = images_per_step

    def render(self, task: Task) -> Text:
        speed = task.speed
        if not speed:
            return Text("")
        return Text(f"{speed:.2f} step/s {speed * self.images_per_step:.1f} img/s")


def training_bar(console: Console, live: bool, images_per_step: int) -> Progress:
    """One task per run, its `status` field shown last; `live` False: rich draws nothing."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        RateColumn(images_per_step),
        TextColumn("{task.fields[status]}"),
        console=console,
        disable=not live,
        transient=False,
    )
