"""`cgan report RUN`: one self-contained HTML page about a run, readable while it still trains, sent by mail or
opened from a laptop without the run folder: every image is inlined as a data: URI and nothing is fetched.

This module owns the page: the summary (family, steps done, checkpoints, the command that resumes the run), the
best metric and a table of every evaluation, the options that differ from the family's defaults, the latest
losses, the plots, and the sample grids over time side by side. Every number of the log sits in a cell whose
`data-key`, `data-step` and `data-value` (the exact JSON number) name where it comes from, so a program can check
the page against log.jsonl. The log is read through runlog.py, the figure drawn by plots.py (without matplotlib
the page says so and has no plots), the defaults are the family's Config in the registry (cgan_cli/families).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import re
import shlex
from html import escape
from pathlib import Path
from typing import Any

from cgan_cli.config import flag_name, to_dict
from cgan_cli.console import warn
from cgan_cli.data.atomic import atomic_write_bytes
from cgan_cli.errors import CganError, UsageError
from cgan_cli.families import FAMILIES
from cgan_cli.watch import plots, runlog
from cgan_cli.watch.runlog import History

DEFAULT_OUT = "report.html"
MAX_GRIDS = 12
SAMPLE = re.compile(r"step-(\d+)\.png")
NO_DEFAULT = object()  # a stored key this cgan's config no longer has
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222 }
h1 small { color: #666; font-weight: normal } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em }
table { border-collapse: collapse; margin: .5em 0 } td, th { padding: .2em .7em; border-bottom: 1px solid #eee }
th { text-align: left } td.num { text-align: right; font-variant-numeric: tabular-nums }
tr.best td { background: #fff4d6 } code, pre { background: #f5f5f5; padding: .1em .3em; border-radius: 3px }
.strip { display: flex; gap: 12px; overflow-x: auto; padding-bottom: .5em } .strip figure { margin: 0 }
.strip img { height: 256px; image-rendering: pixelated } figcaption { text-align: center; color: #555 }
img.plot { max-width: 100% } .note { color: #8a5a00 }
"""


@dataclasses.dataclass(frozen=True)
class Setting:
    """One stored config value beside the family's default."""

    name: str
    value: Any
    default: Any  # NO_DEFAULT for a key this cgan does not know
    cli: bool  # an option of `cgan train` (False: found in the data, e.g. class names)
    changed: bool

    @property
    def flag(self) -> str:
        return flag_name(self.name)


def settings(family: str, config: dict[str, Any]) -> list[Setting]:
    """Every stored value beside its default, in the family's option order. Values are compared as the stored
    JSON holds them (tuples as lists); a path option is stored absolute, so a given path always differs from
    its empty default, and a non-empty default counts as unchanged when it resolves to the stored path."""
    spec = FAMILIES.get(family)
    fields = {f.name: f for f in dataclasses.fields(spec.Config)} if spec else {}
    defaults = json.loads(json.dumps(to_dict(spec.Config()))) if spec else {}
    out = []
    for name in [*(n for n in fields if n in config), *sorted(set(config) - set(fields))]:
        value, default = config[name], defaults.get(name, NO_DEFAULT)
        meta = fields[name].metadata if name in fields else {}
        same = value == default or (meta.get("path") and default and Path(default).resolve() == Path(value))
        cli = name in fields and meta.get("cli", True)
        out.append(Setting(name, value, default, cli, changed=cli and not same))
    return out


def sample_grids(run_dir: Path) -> list[tuple[int, Path]]:
    """RUN/samples/step-NNNNNNN.png by step."""
    found = [(int(m.group(1)), p) for p in (run_dir / "samples").glob("step-*.png") if (m := SAMPLE.fullmatch(p.name))]
    return sorted(found)


def spread(n: int, k: int = MAX_GRIDS) -> list[int]:
    """Up to k indices of n, evenly spaced, the first and the last included."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def write_report(run_dir: Path, out: Path | None = None, smoothing: float = plots.DEFAULT_SMOOTH) -> Path:
    """Write RUN's report (default RUN/report.html) atomically; a missing run or log is a one-line error."""
    out = out if out is not None else run_dir / DEFAULT_OUT
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out}: a report is an .html file")
    plots.check_smoothing(smoothing)
    history = plots.load(run_dir)
    page = _page(run_dir.resolve(), history, runlog.read(run_dir), smoothing)  # paths that work from anywhere
    atomic_write_bytes(out, page.encode("utf-8"))
    return out


# --- the page ---------------------------------------------------------------------------------------------------


def _page(run_dir: Path, history: History, records: list[dict[str, Any]], smoothing: float) -> str:
    stored = _config(run_dir)
    family, config = str(stored.get("family", "")), stored.get("config") or {}
    name = run_dir.name
    body = [
        f"<h1>{escape(name)} <small>{escape(family or 'unknown family')}</small></h1>",
        _summary(run_dir, family, config, history, records),
        _evaluations(run_dir, family, config, history, records),
        _settings(family, config, stored),
        _losses(history),
        _plots(run_dir, history, smoothing),
        _samples(run_dir, history),
    ]
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>cgan report: {escape(name)}</title>'
            f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")  # fmt: skip


def _config(run_dir: Path) -> dict[str, Any]:
    try:
        stored = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _summary(run_dir: Path, family: str, config: dict, history: History, records: list[dict[str, Any]]) -> str:
    spec = FAMILIES.get(family)
    latest, best = run_dir / "latest.safetensors", run_dir / "best.safetensors"
    kept = sorted(p.name for p in run_dir.glob("step-*.safetensors"))
    stamp = next((r["time"] for r in reversed(records) if isinstance(r.get("time"), (int, float))), None)
    rows = [
        ("family", f"{family} — {spec.summary}" if spec else family or "unknown (no config.json)"),
        ("steps done", f"{history.last_step} (epoch {records[-1].get('epoch', '?')})"),
        ("last logged", datetime.datetime.fromtimestamp(stamp).astimezone().isoformat(" ", "seconds") if stamp else ""),
        ("latest checkpoint", str(latest) if latest.exists() else "none yet (the first is written at --save-every)"),
        ("best checkpoint", str(best) if best.exists() else "none yet" if config.get("eval_every") else
         "none (the run has no --eval-every)"),  # fmt: skip
        ("step checkpoints kept", ", ".join(kept) or "none"),
    ]
    resume = f"cgan train --resume {shlex.quote(str(latest))}"
    how = (f"<p>Resume the run with <code>{escape(resume)}</code> (add <code>--steps N</code> to move its stop).</p>"
           if latest.exists() else "")  # fmt: skip
    return f'<section id="summary"><h2>Summary</h2>{_pairs(rows)}{how}</section>'


def _evaluations(run_dir: Path, family: str, config: dict, history: History, records: list[dict[str, Any]]) -> str:
    errors = [r for r in records if "eval_error" in r]
    if not history.evals and not errors:
        return '<section id="evaluations"><h2>Evaluations</h2><p>None: the run has no --eval-every.</p></section>'
    parts = ['<section id="evaluations"><h2>Best metric and evaluations</h2>']
    best = history.best
    if best:
        checkpoint = run_dir / "best.safetensors"
        cell = _num(best["metric"], best["step"], best["value"])
        parts.append(f"<p>Best {escape(str(best['metric']))}: <b>{cell}</b> at step {best['step']}, kept as "
                     f"<code>{escape(str(checkpoint))}</code>.</p>")  # fmt: skip
        scored = [e for e in history.evals if e["step"] == best.get("step") and e.get("command")]
        if scored:  # the command the evaluation logged: `cgan eval` on that step's checkpoint, while it is kept
            parts.append(f"<p><code>{escape(scored[-1]['command'])}</code> gives these numbers again (on the same "
                         "device; best.safetensors is that checkpoint).</p>")  # fmt: skip
    keys = list(dict.fromkeys(k for e in history.evals for k in e["eval"] if k != "settings"))
    head = "".join(f"<th>{escape(k)}</th>" for k in ["step", *keys, "seconds"])
    rows = []
    for e in history.evals:
        cls = ' class="best"' if best and e["step"] == best.get("step") else ""
        cells = [_cell(k, e["step"], e["eval"].get(k)) for k in keys] + [_cell("eval_s", e["step"], e.get("eval_s"))]
        rows.append(f"<tr{cls}><td>{e['step']}</td>{''.join(cells)}</tr>")
    parts.append(f"<table><tr>{head}</tr>{''.join(rows)}</table>")
    parts += [f'<p class="note">Evaluation at step {r["step"]} failed: {escape(str(r["eval_error"]))}</p>'
              for r in errors]  # fmt: skip
    if history.evals and isinstance(history.evals[-1]["eval"].get("settings"), dict):
        settings_json = json.dumps(history.evals[-1]["eval"]["settings"], indent=2, sort_keys=True)
        parts.append(f"<details><summary>Settings of the latest evaluation</summary><pre>{escape(settings_json)}"
                     "</pre></details>")  # fmt: skip
    return "".join(parts) + "</section>"


def _settings(family: str, config: dict, stored: dict) -> str:
    if not stored:
        return '<section id="config"><h2>Config</h2><p class="note">No config.json in the run folder.</p></section>'
    all_settings = settings(family, config)
    changed = [s for s in all_settings if s.changed]
    head = "<tr><th>option</th><th>value</th><th>default</th></tr>"
    rows = "".join(f"<tr><td><code>{escape(s.flag)}</code></td><td>{_value(s.value)}</td><td>{_value(s.default)}"
                   "</td></tr>" for s in changed)  # fmt: skip
    diff = f'<table id="changed">{head}{rows}</table>' if changed else "<p>None: every option is the default.</p>"
    every = "".join(
        f"<tr><td><code>{escape(s.flag if s.cli else s.name)}</code></td><td>{_value(s.value)}</td>"
        f"<td>{_default(s)}</td></tr>"
        for s in all_settings
    )
    known = "" if family in FAMILIES else f'<p class="note">This cgan does not know family {escape(family)}.</p>'
    return (f'<section id="config"><h2>Options that differ from {escape(family)}\'s defaults</h2>{known}{diff}'
            f"<details><summary>All {len(all_settings)} stored values</summary><table>{head}{every}</table>"
            "</details></section>")  # fmt: skip


def _losses(history: History) -> str:
    rows = []
    for network, losses in history.losses.items():
        for s in losses.values():
            if s.steps:
                rows.append(f"<tr><td>{escape(network)}</td><td>{escape(s.name)}</td><td>{s.steps[-1]}</td>"
                            f"{_cell(s.name, s.steps[-1], s.values[-1])}</tr>")  # fmt: skip
    for key, s in (("lr", history.lr), ("img_per_s", history.throughput)):
        if s.steps:
            value = _cell(key, s.steps[-1], s.values[-1])
            rows.append(f"<tr><td></td><td>{escape(key)}</td><td>{s.steps[-1]}</td>{value}</tr>")
    if not rows:
        return '<section id="losses"><h2>Latest losses</h2><p>None logged yet.</p></section>'
    head = "<tr><th>network</th><th>loss</th><th>step</th><th>value</th></tr>"
    return f'<section id="losses"><h2>Latest losses</h2><table>{head}{"".join(rows)}</table></section>'


def _plots(run_dir: Path, history: History, smoothing: float) -> str:
    try:
        png = plots.render(history, plots.title_of(run_dir, history), "png", smoothing)
    except CganError as exc:  # matplotlib missing: the rest of the page still says everything
        warn(f"the report has no plots: {exc}")
        return f'<section id="plots"><h2>Plots</h2><p class="note">No plots: {escape(str(exc))}.</p></section>'
    return (f'<section id="plots"><h2>Plots</h2><img class="plot" alt="loss, metric, learning-rate and throughput '
            f'curves" src="{_data_uri(png)}"></section>')  # fmt: skip


def _samples(run_dir: Path, history: History) -> str:
    grids = sample_grids(run_dir)
    if not grids:
        return '<section id="samples"><h2>Samples over time</h2><p>No sample grid yet.</p></section>'
    shown = [grids[i] for i in spread(len(grids))]
    figures = []
    for step, path in shown:
        extra = "".join(f" · {escape(name)} {_cell(name, step, s.values[s.steps.index(step)], 'span')}"
                        for name, s in history.figures.items() if step in s.steps)  # fmt: skip
        figures.append(f'<figure><img alt="samples at step {step}" src="{_data_uri(path.read_bytes())}">'
                       f"<figcaption>step {step}{extra}</figcaption></figure>")  # fmt: skip
    left = len(grids) - len(shown)
    note = f"<p>{len(shown)} of {len(grids)} grids, evenly spaced; {left} left out.</p>" if left else ""
    return (f'<section id="samples"><h2>Samples over time</h2><p>The fixed validation batch at each sample step.</p>'
            f'{note}<div class="strip">{"".join(figures)}</div></section>')  # fmt: skip


# --- cells ------------------------------------------------------------------------------------------------------


def _num(key: str, step: int, value: Any, tag: str = "span", cls: str = "") -> str:
    """A number as shown (6 significant digits) with where it comes from and its exact JSON value."""
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)
    exact = escape(json.dumps(value))
    return (f'<{tag}{cls} data-key="{escape(str(key))}" data-step="{step}" data-value="{exact}" title="{exact}">'
            f"{escape(shown)}</{tag}>")  # fmt: skip


def _cell(key: str, step: int, value: Any, tag: str = "td") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"<{tag}></{tag}>"
    return _num(key, step, value, tag, ' class="num"' if tag == "td" else "")


def _value(value: Any) -> str:
    if value is NO_DEFAULT:
        return ""
    if value == "":
        return "<i>none</i>"
    return f"<code>{escape(value if isinstance(value, str) else json.dumps(value))}</code>"


def _default(s: Setting) -> str:
    if s.default is NO_DEFAULT:
        return "not an option of this cgan"
    return _value(s.default) if s.cli else "from the data"


def _pairs(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows) + "</table>"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
