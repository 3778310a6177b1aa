"""`cgan report RUN`: one self-contained HTML page about a run (config, plots, sample grids over time, the best
checkpoint, the command that resumes it).

Like every CLI module it imports no torch and no matplotlib: the service (`cgan_cli.watch.report`) is imported when
the command runs."""

from __future__ import annotations

from cgan_cli.cli.common import SMOOTH, RunArgument, Smooth, exits_cleanly, run_page_option
from cgan_cli.console import out

ReportOut = run_page_option("The page to write (.html).", "report.html")


@exits_cleanly
def report(
    run: RunArgument,
    out_file: ReportOut = None,
    smooth: Smooth = SMOOTH,
) -> None:
    """Write one self-contained HTML page about a run, also while it trains. Every image is inlined and nothing
    is fetched. It holds the family, steps done, checkpoints and the command that resumes the run; the best
    metric and every evaluation; the options that differ from the family's defaults; the latest losses; the plots
    of `cgan plot` (without matplotlib, a note instead); and the sample grids over time side by side. Prints the
    path."""
    from cgan_cli.watch.report import write_report

    out(str(write_report(run, out_file, smooth)))
