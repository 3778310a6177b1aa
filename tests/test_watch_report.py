"""`cgan plot` and `cgan report` on a run folder made by hand (no training): the figure's panels and smoothing, the
page's sections checked in a real headless browser against log.jsonl, and both commands without matplotlib."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers_cli import ok, one_line_error
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.cli import app
from cgan_cli.cli.common import SMOOTH
from cgan_cli.config import to_dict
from cgan_cli.config.dcgan import DCGANConfig
from cgan_cli.watch import plots, runlog
from cgan_cli.watch.report import settings, spread, write_report

ROOT = Path(__file__).resolve().parent.parent
CHANGED = {"--images", "--image-size", "--batch-size", "--ema", "--eval-every", "--eval-real"}
GRID_STEPS = (20, 40, 60)
LOSS_STEPS = (10, 20, 30, 40, 50, 60)


def dcgan_config(data: Path) -> DCGANConfig:
    return DCGANConfig(images=str(data.resolve()), image_size=32, batch_size=16, ema=0.999, eval_every=20,
                       eval_real=str(data.resolve()))  # fmt: skip


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A dcgan run at step 60 with a torn line at 70: losses every 10 steps, diversity beside each of 3 grids,
    evaluations at 20 and 40 (the best at 40), a failed one at 60, and only latest/best checkpoints present."""
    run, data = tmp_path / "run", tmp_path / "faces"
    (run / "samples").mkdir(parents=True)
    data.mkdir()
    (run / "config.json").write_text(json.dumps({"family": "dcgan", "config": to_dict(dcgan_config(data))}))
    lines, fid = [], {20: 250.123456789, 40: 190.98765432101}
    for step in LOSS_STEPS:
        lines.append({"step": step, "epoch": step // 30, "D_real": 0.5 + step / 1000 + 1e-9 * step,
                      "D_fake": 0.123456789012345 * step, "G_GAN": 2.0 - step / 100, "lr": 2e-4 if step < 40 else 1e-4,
                      "img_per_s": 100.0 + step, "time": 1_700_000_000.0 + step})  # fmt: skip
        if step in GRID_STEPS:
            lines.append({"step": step, "epoch": step // 30, "diversity": 0.3 + step / 7000})
        if step in fid:
            lines.append({"step": step, "epoch": 0, "eval_s": 1.25 + step / 100,
                          "command": f"cgan eval {data} {run}/step-{step:07d}.safetensors --fid --kid --device cpu",
                          "eval": {"fid": fid[step], "kid_mean": 0.0123 / step, "kid_std": 0.001,
                                   "settings": {"dims": 2048, "n_fake": 64}},
                          "best": {"metric": "fid", "value": min(fid[20], fid[step]), "step": step},
                          "time": 1_700_000_100.0 + step})  # fmt: skip
    lines.append({"step": 60, "epoch": 2, "eval_error": "<script>x</script> could not be read"})
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"step": 70, "epoch": 2, "D_real": 0.4'
    (run / runlog.LOG).write_text(text)
    for k, step in enumerate(GRID_STEPS):
        Image.new("RGB", (48 + 8 * k, 32), (40 * k, 120, 200)).save(run / "samples" / f"step-{step:07d}.png")
    for name in ("latest.safetensors", "best.safetensors"):
        (run / name).write_bytes(b"not read by the report")
    return run


def log_values(run: Path) -> dict[tuple[str, int], float]:
    """Every number of log.jsonl by (key, step), read here without runlog (the torn last line skipped)."""
    values = {}
    for line in (run / runlog.LOG).read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        for key, value in {**record, **record.get("eval", {})}.items():
            if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                values[key, record["step"]] = value
    return values


# --- the figure --------------------------------------------------------------------------------------------------


def test_smoothing_is_tensorboards_debiased_moving_average():
    values, w = [4.0, -2.0, 7.0, 1.0], 0.6
    restated = [sum(w ** (n - i) * (1 - w) * v for i, v in enumerate(values[: n + 1])) / (1 - w ** (n + 1))
                for n in range(len(values))]  # fmt: skip
    assert plots.smooth(values, w) == pytest.approx(restated)
    assert plots.smooth([5.0] * 4, 0.9) == pytest.approx([5.0] * 4)  # debiased: a constant is not pulled to 0
    assert plots.smooth(values, 0.0) == values
    assert SMOOTH == plots.DEFAULT_SMOOTH


def test_figure_has_a_panel_per_network_metric_figure_lr_and_throughput(run):
    history = plots.load(run)
    titles = [ax.get_title() for ax in plots.figure(history, "t").axes]
    assert titles[:2] == ["D losses (smoothed 0.6)", "G losses (smoothed 0.6)"]
    assert titles[2] == "fid (best 191 at step 40)" and titles[3:5] == ["kid_mean", "diversity"]
    assert titles[5:] == ["learning rate", "throughput (img/s, all ranks) (smoothed 0.6)"]  # no eval_error panel
    d_panel = plots.figure(history, "t", smoothing=0.0).axes[0]
    assert [line.get_label() for line in d_panel.get_legend().get_lines()] == ["D_real", "D_fake"]
    assert history.last_step == 60  # the torn line at step 70 is not in it


def test_cgan_plot_writes_png_by_default_and_svg_by_suffix(run, tmp_path):
    assert ok(CliRunner().invoke(app, ["plot", str(run)])) == [str(run / "plot.png")]
    with Image.open(run / "plot.png") as img:
        assert img.format == "PNG" and img.width > 1000
        img.verify()
    svg = tmp_path / "out" / "p.svg"
    assert ok(CliRunner().invoke(app, ["plot", str(run), "--out", str(svg), "--smooth", "0"])) == [str(svg)]
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert not list(run.glob(".*.tmp")) and not list(svg.parent.glob(".*.tmp"))  # written atomically


def test_cgan_plot_errors(run, tmp_path):
    assert "a plot is .png or .svg" in one_line_error(CliRunner().invoke(app, ["plot", str(run), "-o", "x.jpg"]), 2)
    assert CliRunner().invoke(app, ["plot", str(run), "--smooth", "1"]).exit_code == 2
    assert "no such run folder" in one_line_error(CliRunner().invoke(app, ["plot", str(tmp_path / "none")]), 1)
    (tmp_path / "fresh").mkdir()
    assert "no log.jsonl yet" in one_line_error(CliRunner().invoke(app, ["plot", str(tmp_path / "fresh")]), 1)
    (tmp_path / "fresh" / runlog.LOG).write_text('{"step": 1, "D_re')  # only a line being written
    assert "no complete line yet" in one_line_error(CliRunner().invoke(app, ["plot", str(tmp_path / "fresh")]), 1)


def test_without_matplotlib_plot_is_one_line_and_the_report_has_a_note(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    error = one_line_error(CliRunner().invoke(app, ["plot", str(run)]), 1)
    assert error == 'cgan: error: cgan plot needs matplotlib: pip install "cgan-cli[plot]"'
    result = CliRunner().invoke(app, ["report", str(run)])
    assert ok(result) == [str(run / "report.html")] and "the report has no plots" in result.stderr
    page = (run / "report.html").read_text()
    assert 'class="plot"' not in page and "No plots: cgan plot needs matplotlib" in page
    assert page.count("<img ") == len(GRID_STEPS)


# --- the report --------------------------------------------------------------------------------------------------


def test_report_is_self_contained_and_escaped(run, tmp_path):
    out = tmp_path / "r" / "page.html"
    assert ok(CliRunner().invoke(app, ["report", str(run), "--out", str(out)])) == [str(out)]
    page = out.read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(sources) == 1 + len(GRID_STEPS) and all(s.startswith("data:image/png;base64,") for s in sources)
    text = re.sub(r'"data:[^"]*"', "", page)
    assert "://" not in text and "file:" not in text and "<link" not in text and "<script" not in text
    assert "&lt;script&gt;x&lt;/script&gt; could not be read" in page  # the failed evaluation, escaped
    assert f"cgan train --resume {run / 'latest.safetensors'}" in page
    assert f"<code>cgan eval {run.parent / 'faces'} {run}/step-0000040.safetensors --fid --kid" in page  # best's
    assert "step-0000020.safetensors --fid" not in page
    assert not list(out.parent.glob(".*.tmp"))
    changed = re.search(r'<table id="changed">(.*?)</table>', page, re.S)
    assert changed and set(re.findall(r"<tr><td><code>(--[a-z0-9-]+)</code>", changed.group(1))) == CHANGED
    wrong = CliRunner().invoke(app, ["report", str(run), "-o", "r.txt"])
    assert "a report is an .html file" in one_line_error(wrong, 2)


def test_report_of_a_relative_run_names_absolute_paths(run, monkeypatch):
    """The page is read elsewhere (mailed, opened on a laptop): its commands work from any folder."""
    monkeypatch.chdir(run.parent)
    assert ok(CliRunner().invoke(app, ["report", run.name])) == [f"{run.name}/report.html"]
    assert f"cgan train --resume {run.resolve() / 'latest.safetensors'}</code>" in (run / "report.html").read_text()


def test_config_diff_compares_the_stored_json_with_the_family_defaults(tmp_path):
    stored = json.loads(json.dumps(to_dict(dcgan_config(tmp_path))))  # as config.json holds it: tuples as lists
    stored["retired_option"] = 1
    rows = {s.flag: s for s in settings("dcgan", stored)}
    assert {flag for flag, s in rows.items() if s.changed} == CHANGED
    assert rows["--class-names"].cli is False and rows["--retired-option"].changed is False
    assert list(rows)[:3] == [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(DCGANConfig)][:3]


def test_many_sample_grids_are_thinned_evenly(run):
    assert spread(5) == [0, 1, 2, 3, 4] and spread(30)[0] == 0 and spread(30)[-1] == 29 and len(spread(30)) == 12
    for step in range(80, 80 + 20 * 11, 20):
        Image.new("RGB", (8, 8)).save(run / "samples" / f"step-{step:07d}.png")
    page = write_report(run).read_text()
    assert page.count('alt="samples at step') == 12 and "12 of 14 grids, evenly spaced; 2 left out" in page
    assert 'alt="samples at step 20"' in page and 'alt="samples at step 280"' in page


def test_plot_and_report_import_no_torch(run):
    """They read a run folder while it trains, maybe on another machine: they start in a second, not ten."""
    code = f"""
import sys
from cgan_cli.cli import main
for command in ("plot", "report"):
    sys.argv = ["cgan", command, {str(run)!r}]
    try:
        main()
    except SystemExit:
        pass
print("@@", [m for m in ("torch", "torchvision", "safetensors") if m in sys.modules])
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines() == [str(run / "plot.png"), str(run / "report.html"), "@@ []"], proc.stderr


# --- in a real browser -------------------------------------------------------------------------------------------

PROBE = """
<img id="control" alt="control" src="data:image/png;base64,AAAA">
<pre id="result"></pre>
<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0}));
  const cells = [...document.querySelectorAll("[data-value]")].map(
    c => ({key: c.dataset.key, step: Number(c.dataset.step), value: Number(c.dataset.value)}));
  document.getElementById("result").textContent = JSON.stringify({images, cells});
});
</script>
"""


def test_report_in_a_headless_browser_loads_every_image_and_matches_the_log(run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    page = tmp_path / "probe.html"
    page.write_text(write_report(run).read_text().replace("</body>", PROBE + "</body>"))
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
    found = re.search(r'<pre id="result">(.*?)</pre>', proc.stdout, re.S)
    assert found and found.group(1), proc.stderr[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    loaded = {i["alt"]: i["loaded"] for i in result["images"]}
    assert loaded.pop("control") is False  # the probe can tell a broken image
    assert sorted(loaded) == sorted(["loss, metric, learning-rate and throughput curves",
                                     *(f"samples at step {s}" for s in GRID_STEPS)])  # fmt: skip
    assert all(loaded.values()), loaded
    logged = log_values(run)
    shown = {(c["key"], c["step"]): c["value"] for c in result["cells"]}
    assert all(logged[key] == value for key, value in shown.items()), {k: (v, logged.get(k)) for k, v in shown.items()}
    expected = {(k, s) for s in (20, 40) for k in ("fid", "kid_mean", "kid_std", "eval_s")}
    expected |= {(k, 60) for k in ("D_real", "D_fake", "G_GAN", "lr", "img_per_s")}
    expected |= {("diversity", s) for s in GRID_STEPS}
    assert expected <= set(shown)
