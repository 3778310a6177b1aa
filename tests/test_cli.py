"""The command surface: what is registered, usage errors, and the README checked against --help."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

import cgan_cli
from cgan_cli.cli import app
from cgan_cli.data.paired import find_pairs
from cgan_cli.families import FAMILIES

README = Path(__file__).resolve().parent.parent / "README.md"


def run(*args, **kwargs):
    return CliRunner().invoke(app, list(args), **kwargs)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.startswith(f"cgan {cgan_cli.__version__} ")


def test_help_lists_only_working_commands():
    result = run("--help")
    assert result.exit_code == 0
    for name in ("train", "translate", "sample", "text2img", "interp", "eval", "export", "plot", "report", "demo"):
        assert re.search(rf"^\W*{name}\b", result.stdout, re.M), name
    train_help = run("train", "--help").stdout
    for family in ("pix2pix", "dcgan", "cgan", "acgan", "cyclegan", "stargan", "gancls", "gigagan"):
        assert re.search(rf"^\W*{family}\b", train_help, re.M), family


def test_usage_errors_exit_2():
    assert run().exit_code == 2
    assert run("train").exit_code == 2
    assert run("frobnicate").exit_code == 2
    assert run("train", "pix2pix", "--out", "x").exit_code == 2  # --paired missing
    assert run("translate", "--out", "o").exit_code == 2


def test_demo_is_deterministic_and_in_the_aligned_layout(tmp_path):
    for name in ("a", "b"):
        result = run("demo", str(tmp_path / name), "--train", "3", "--test", "2", "--size", "32")
        assert result.exit_code == 0 and result.stdout.strip() == str(tmp_path / name)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert [str(p) for p in files_a] == [
        "test/0000.png",
        "test/0001.png",
        "train/0000.png",
        "train/0001.png",
        "train/0002.png",
    ]
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert len(find_pairs(tmp_path / "a", "train")) == 3
    assert len(find_pairs(tmp_path / "a", "test")) == 2


def readme_commands() -> list[list[str]]:
    text = README.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            for part in re.split(r"&&|\|", line):
                words = part.split()
                if words[:1] == ["cgan"]:
                    commands.append(words[1:])
    return commands


def help_of(*sub: str) -> str:
    """Wide, so rich does not shorten long option names."""
    return run(*sub, "--help", env={"COLUMNS": "250"}).stdout


def test_every_option_in_the_readme_exists_in_help():
    commands = readme_commands()
    assert any(c[:2] == ["train", "pix2pix"] for c in commands)
    for words in commands:
        path = [w for w in words if not w.startswith("-")][:2]
        sub = path[:2] if path[:1] == ["train"] and len(path) > 1 and path[1] in FAMILIES else path[:1]
        help_text = help_of(*sub)
        for flag in (w.partition("=")[0] for w in words if w.startswith("--")):  # --range=-2,2 is --range
            assert flag in help_text, f"README uses {flag} but `cgan {' '.join(sub)} --help` lacks it"
    tables = re.findall(r"`(--[a-z0-9-]+)", README.read_text())
    train_help = "".join(help_of("train", f) for f in FAMILIES) + help_of("train")
    others = ("translate", "sample", "text2img", "interp", "eval", "export", "info", "plot", "report", "demo")
    other_help = help_of() + "".join(help_of(c) for c in others)
    for flag in tables:
        assert flag in train_help or flag in other_help, f"README mentions {flag}, which no command has"
