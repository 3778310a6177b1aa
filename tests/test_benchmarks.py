"""Smoke runs of the benchmark scripts' --quick modes (each ~10 s on a 2-core CPU).

Timings are not checked (they depend on the machine); what is checked is that each script runs end to
end, reports a positive ratio, and that the train-step comparison is apples to apples: the reference
restatement has exactly our parameter counts and, on CPU, the same first-step losses and weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def run_quick(script: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--json", "--device", "cpu", "--threads", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


@pytest.mark.parametrize("script", ["train_step.py", "translate.py"])
def test_help(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout and "--json" in proc.stdout


def test_train_step_quick() -> None:
    r = run_quick("train_step.py")
    assert r["ratio"] > 0 and r["ours_img_s"] > 0 and r["ref_img_s"] > 0
    assert r["params_G_ours"] == r["params_G_ref"] > 0
    assert r["params_D_ours"] == r["params_D_ref"] > 0
    assert r["same_params"] is True
    # on CPU our path is fp32 eager like the reference: the first step from the same weights agrees
    assert r["first_step_max_rel_loss_diff"] < 1e-5
    assert r["first_step_max_abs_G_weight_diff"] < 1e-6


def test_translate_quick() -> None:
    r = run_quick("translate.py")
    assert r["ratio"] > 0 and r["end_to_end_img_s"] > 0 and r["model_only_img_s"] > 0
    assert r["n"] == 8
