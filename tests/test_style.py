"""The code base stays ruff-clean (lint rules and line length from pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install '.[test]')")
    result = subprocess.run(
        [ruff, "check", "--output-format", "concise", "cgan_cli", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_m_cgan_cli_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "cgan_cli", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.startswith("cgan ")


def test_no_module_is_a_thousand_line_file():
    """One room per job: a module that grows past ~450 lines is doing several."""
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in (ROOT / "cgan_cli").rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > 450} == {}
