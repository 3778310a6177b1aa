"""`cgan plot RUN`: a run's log.jsonl as one figure, one panel per quantity, readable while the run still writes.

This module owns the figure: its panels (each network's losses, smoothed; each metric of --eval-every with the
best point marked; the figures of the sample grids such as diversity; the learning rate; the throughput), the
TensorBoard-style smoothing, and writing it as PNG or SVG. Reading and sorting the log is runlog.py's (a torn last
line is skipped there); the HTML report (report.py) embeds the same figure.

matplotlib is an optional extra (`pip install "cgan-cli[plot]"`), imported when a figure is made, and used through
its object-oriented API on the Agg canvas: never pyplot, which may open a GUI backend and keeps global figures.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cgan_cli.data.atomic import atomic_path
from cgan_cli.errors import CganError, UsageError
from cgan_cli.watch import runlog
from cgan_cli.watch.runlog import History, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MISSING = 'cgan plot needs matplotlib: pip install "cgan-cli[plot]"'
FORMATS = {".png": "png", ".svg": "svg"}
DEFAULT_OUT = "plot.png"
DEFAULT_SMOOTH = 0.6
COLUMNS = 3
THROUGHPUT = "throughput (img/s, all ranks)"


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's scalar smoothing: an exponential moving average started at 0 and debiased by 1 − weightⁿ, so
    the first points are not pulled towards 0 (weight 0: the raw values)."""
    check_smoothing(weight)
    smoothed, last = [], 0.0
    for n, value in enumerate(values, 1):
        last = last * weight + (1 - weight) * value
        smoothed.append(last / (1 - weight**n))
    return smoothed


def check_smoothing(weight: float) -> None:
    if not 0 <= weight < 1:
        raise UsageError(f"--smooth must be at least 0 and below 1 (got {weight})")


def plot_format(out: Path) -> str:
    """The format an output's suffix asks for, or a usage error before any work."""
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise UsageError(f"--out {out}: a plot is .png or .svg (got {out.suffix or 'no suffix'!r})")
    return fmt


def load(run_dir: Path) -> History:
    """The run's history so far; a missing folder or a log with no complete line yet is a one-line error."""
    if not run_dir.is_dir():
        raise CganError(f"{run_dir}: no such run folder")
    log = run_dir / runlog.LOG
    if not log.is_file():
        raise CganError(f"{run_dir}: no {runlog.LOG} yet (training writes it every --log-every steps)")
    records = runlog.read(run_dir)
    if not records:
        raise CganError(f"{log}: no complete line yet (training writes one every --log-every steps)")
    return runlog.history(records)


def _matplotlib() -> type[Figure]:
    """matplotlib's Figure, imported now; its absence is the one-line MISSING error."""
    try:
        import matplotlib  # noqa: F401 — first, so a matplotlib made unimportable fails here even if submodules linger
        from matplotlib.figure import Figure
    except ImportError:
        raise CganError(MISSING) from None
    return Figure


def figure(history: History, title: str, smoothing: float = DEFAULT_SMOOTH) -> Figure:
    """One figure of every panel the history has data for (the learning rate and throughput always)."""
    check_smoothing(smoothing)
    Figure = _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    panels = _panels(history, smoothing)
    cols = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5.2 * cols, 3.4 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    right = max(history.last_step, 1) * 1.03  # a margin, so the last point is not cut in half
    for ax, draw in zip(axes, panels):
        draw(ax)
        ax.set_xlim(0, right)  # every panel on the same step axis, so events line up by eye
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        fig.delaxes(ax)
    return fig


def render(history: History, title: str, fmt: str, smoothing: float = DEFAULT_SMOOTH) -> bytes:
    """The figure as PNG or SVG bytes (for the report, which inlines them)."""
    buffer = io.BytesIO()
    figure(history, title, smoothing).savefig(buffer, format=fmt, dpi=100, metadata=_metadata(fmt))
    return buffer.getvalue()


def save_plot(run_dir: Path, out: Path | None = None, smoothing: float = DEFAULT_SMOOTH) -> Path:
    """Write the run's figure to `out` (default RUN/plot.png) atomically; the format is the suffix's."""
    out = out if out is not None else run_dir / DEFAULT_OUT
    fmt = plot_format(out)
    check_smoothing(smoothing)
    history = load(run_dir)
    fig = figure(history, title_of(run_dir, history), smoothing)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=100, metadata=_metadata(fmt))
    return out


def title_of(run_dir: Path, history: History) -> str:
    return f"{run_dir.resolve().name}: step {history.last_step}"


def _metadata(fmt: str) -> dict[str, Any]:
    return {"Date": None} if fmt == "svg" else {}  # no timestamp: the same log gives the same file


# --- the panels ----------------------------------------------------------------------------------------------


def _panels(history: History, smoothing: float) -> list[Callable[[Axes], None]]:
    panels: list[Callable[[Axes], None]] = []
    for network, losses in history.losses.items():
        panels.append(lambda ax, n=network, s=losses: _losses(ax, n, list(s.values()), smoothing))
    best = history.best
    for series in history.metrics.values():
        panels.append(lambda ax, s=series: _metric(ax, s, best))
    for series in history.figures.values():
        if series.steps:  # a key with no number (an evaluation's error message) has nothing to draw
            panels.append(lambda ax, s=series: _points(ax, s, s.name))
    panels.append(lambda ax: _points(ax, history.lr, "learning rate", "", "steps-post"))
    panels.append(lambda ax: _smoothed(ax, [history.throughput], THROUGHPUT, smoothing))
    return panels


def _losses(ax: Axes, network: str, series: list[Series], smoothing: float) -> None:
    _smoothed(ax, series, f"{network} losses", smoothing)
    if series and any(s.steps for s in series):
        ax.legend(fontsize="small", loc="best")


def _smoothed(ax: Axes, series: list[Series], title: str, smoothing: float) -> None:
    """Each series raw and faint, with its smoothed line over it in the same colour."""
    ax.set_title(title + (f" (smoothed {smoothing:g})" if smoothing else ""))
    for s in series:
        if not s.steps:
            continue
        (line,) = ax.plot(s.steps, s.values, alpha=0.25, linewidth=1)
        ax.plot(s.steps, smooth(s.values, smoothing), color=line.get_color(), linewidth=1.6, label=s.name)
    _no_data(ax, series)


def _points(ax: Axes, series: Series, title: str, marker: str = "o", drawstyle: str = "default") -> None:
    ax.set_title(title)
    ax.plot(series.steps, series.values, marker=marker, markersize=3, linewidth=1.4, drawstyle=drawstyle)
    _no_data(ax, [series])


def _metric(ax: Axes, series: Series, best: dict[str, Any] | None) -> None:
    """A metric of --eval-every; the best so far starred on the metric that decides best.safetensors, and its step
    a dotted line on the others."""
    _points(ax, series, series.name)
    if not best:
        return
    if best.get("metric") == series.name:
        ax.plot([best["step"]], [best["value"]], marker="*", markersize=14, color="tab:red", linestyle="")
        ax.set_title(f"{series.name} (best {best['value']:.4g} at step {best['step']})")
    else:
        ax.axvline(best["step"], color="tab:red", linestyle=":", linewidth=1)


def _no_data(ax: Axes, series: list[Series]) -> None:
    if not any(s.steps for s in series):
        ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center", color="gray")
