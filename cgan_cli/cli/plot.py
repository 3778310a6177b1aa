"""`cgan plot RUN`: a run's losses, metrics, learning rate and throughput from its log.jsonl, as one PNG or SVG.

Like every CLI module it imports no torch and no matplotlib: the service (`cgan_cli.watch.plots`) is imported when
the command runs."""

from __future__ import annotations

from cgan_cli.cli.common import SMOOTH, RunArgument, Smooth, exits_cleanly, run_page_option
from cgan_cli.console import out

PlotOut = run_page_option("The figure to write: .png or .svg.", "plot.png")


@exits_cleanly
def plot(
    run: RunArgument,
    out_file: PlotOut = None,
    smooth: Smooth = SMOOTH,
) -> None:
    """Plot a run's curves from its log.jsonl, also while it trains. One panel per network's losses (raw and
    smoothed), one per metric of --eval-every (the best marked), the sample figures such as diversity, the learning
    rate and the throughput of all ranks. Needs matplotlib: pip install "cgan-cli[plot]". Prints the path."""
    from cgan_cli.watch.plots import save_plot

    out(str(save_plot(run, out_file, smooth)))
