"""A Unix tool answers at once: `--help`, `--version`, every subcommand's and family's `--help`, and shell
completion run without importing torch, torchvision, open_clip or numpy (seconds of start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cgan_cli.families import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "torchvision", "open_clip", "numpy", "PIL", "safetensors", "matplotlib")
COMMANDS = ("train", "translate", "sample", "text2img", "interp", "eval", "export", "info", "plot", "report", "demo")

# Runs each argv through the real entry point in one process and names the first one that imported a heavy
# module (they stay imported, so later argvs could not be told apart).
PROBE = r"""
import json, os, sys
from cgan_cli.cli import main
heavy, report = json.loads(sys.argv[1]), {"first": None, "outputs": []}
for argv, env in json.loads(sys.argv[2]):
    os.environ.update(env)
    sys.argv = ["cgan", *argv]
    try:
        main()
    except SystemExit as exc:
        report["outputs"].append([argv, exc.code])
    for name in env:
        del os.environ[name]
    loaded = [m for m in heavy if m in sys.modules]
    if loaded and report["first"] is None:
        report["first"] = [argv, loaded]
print("\n@@" + json.dumps(report))
"""


def probe(calls: list[tuple[list[str], dict[str, str]]]) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("_CGAN_COMPLETE")}
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), json.dumps(calls)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert "@@" in proc.stdout, proc.stderr
    before, _, report = proc.stdout.rpartition("\n@@")
    return json.loads(report), before


def test_help_version_and_every_command_help_import_no_torch():
    calls = [(["--help"], {}), (["--version"], {}), (["train", "--help"], {})]
    calls += [([command, "--help"], {}) for command in COMMANDS]
    calls += [(["train", name, "--help"], {}) for name in FAMILIES]
    report, printed = probe(calls)
    assert report["first"] is None, f"`cgan {' '.join(report['first'][0])}` imported {report['first'][1]}"
    assert [code for _, code in report["outputs"]] == [0] * len(calls)  # every one answered, successfully
    for spec in FAMILIES.values():
        assert spec.summary[:40] in printed  # the family pages were really rendered from the config tables


def test_version_names_torch_from_its_metadata_without_importing_it():
    from importlib.metadata import version

    report, printed = probe([(["--version"], {})])
    assert report["first"] is None and f"(torch {version('torch')})" in printed


@pytest.mark.parametrize(
    ("words", "expected"),
    [("cgan train pix", ["pix2pix"]), ("cgan train cyclegan --net-", ["--net-g", "--net-d"]), ("cgan tr", ["train"])],
)
def test_shell_completion_imports_no_torch(words, expected):
    env = {"_CGAN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    report, printed = probe([([], env)])
    assert report["first"] is None, f"completion imported {report['first'][1]}"
    for word in expected:
        assert word in printed.split()


def test_running_a_command_does_import_torch(tmp_path):
    """The probe can fail: a command that runs (not --help) brings torch in when it needs it."""
    report, _ = probe([(["sample", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "out")], {})])
    assert report["first"] is not None and "torch" in report["first"][1]
    assert report["outputs"] == [[["sample", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "out")], 1]]


def test_python_x_importtime_of_cgan_help_lists_no_torch():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "cgan_cli", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and "Usage" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert "cgan_cli.cli" in imported and not imported & {"torch", "numpy", "torchvision", "open_clip"}
