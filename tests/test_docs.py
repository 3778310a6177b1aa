"""Shell completions and man pages: generated from the CLI, committed, and kept in step with it.

Stale files fail here with the command that regenerates them; the completion scripts are run in a real bash
against the real CLI; the man pages are checked against the click tree and linted and rendered with groff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

import cgan_cli
from cgan_cli.cli import app
from cgan_cli.cli.common import default_workers
from cgan_cli.docs import __main__ as docs_main
from cgan_cli.docs import completions, generated_files, manpages
from cgan_cli.families import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "run `python -m cgan_cli.docs` to regenerate them"


def click_tree():
    """(name, command, context) of each registered subcommand, straight from typer (not from the generator)."""
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="cgan", **root.context_settings)
    for name in root.list_commands(ctx):
        sub = root.get_command(ctx, name)
        yield name, sub, sub.context_class(sub, info_name=name, parent=ctx, **(sub.context_settings or {}))


def long_flags(cmd, ctx) -> set[str]:
    """Every `--flag` of a command and of its subcommands (`cgan train`'s families), `--no-x` flags included."""
    flags = {o for p in cmd.get_params(ctx) for o in (*p.opts, *getattr(p, "secondary_opts", ())) if o[:2] == "--"}
    if hasattr(cmd, "list_commands"):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            flags |= long_flags(sub, sub.context_class(sub, info_name=name, parent=ctx))
    return flags


def plain(roff: str) -> str:
    """Page source with the escapes a reader never sees undone, for searching."""
    return roff.replace(r"\-", "-").replace(r"\(aq", "'").replace(r"\e", "\\")


def section(roff: str, name: str) -> str:
    match = re.search(rf"^\.SH {name}\n(.*?)(?=^\.SH |\Z)", roff, re.M | re.S)
    assert match, f"no {name} section"
    return match.group(1)


@pytest.fixture(scope="module")
def generated() -> dict[str, bytes]:
    return generated_files()


@pytest.fixture(scope="module")
def pages(generated) -> dict[str, str]:
    return {rel.removeprefix("man/"): data.decode("ascii") for rel, data in generated.items() if rel.startswith("man/")}


# ------------------------------------------------------------------------------------------ freshness


def test_committed_files_match_a_fresh_generation(tmp_path, generated):
    """Regenerate through the real entry point, in a hostile environment (narrow terminal, NO_COLOR, another CPU
    count behind --workers' default), and compare byte for byte with the repo and with the in-process result."""
    fake_cpus = 1 if default_workers() != 1 else 3
    code = (
        f"import os, runpy, sys; os.cpu_count = lambda: {fake_cpus}; sys.argv = ['x', '--root', {str(tmp_path)!r}];"
        "runpy.run_module('cgan_cli.docs', run_name='__main__')"
    )
    env = {**os.environ, "COLUMNS": "33", "LINES": "5", "NO_COLOR": "1", "TERM": "dumb", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    fresh = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert fresh == generated, "generation depends on the environment or the host"
    stale = [rel for rel, data in fresh.items() if not (ROOT / rel).is_file() or (ROOT / rel).read_bytes() != data]
    extra = sorted({p.name for p in (ROOT / "man").glob("*.1")} - {Path(rel).name for rel in fresh})
    assert not stale and not extra, f"stale: {stale}, no longer generated: {extra}; {REGENERATE}"


def test_one_man_page_per_registered_subcommand(generated):
    expected = {"cgan.1"} | {f"cgan-{name}.1" for name, _, _ in click_tree()}
    assert {name for name in expected if name.startswith("cgan-")}, "no subcommands found"
    assert {Path(rel).name for rel in generated if rel.startswith("man/")} == expected
    assert {p.name for p in (ROOT / "man").glob("*.1")} == expected, REGENERATE


def test_check_names_stale_files_and_writing_fixes_them(tmp_path, capsys):
    assert docs_main.main(["--root", str(tmp_path), "--check"]) == 1
    assert "man/cgan-translate.1" in capsys.readouterr().err
    assert docs_main.main(["--root", str(tmp_path)]) == 0
    assert docs_main.main(["--root", str(tmp_path), "--check"]) == 0
    page = tmp_path / "man" / "cgan-train.1"
    page.write_bytes(page.read_bytes() + b'.\\" edited\n')
    (tmp_path / "man" / "cgan-gone.1").write_text(".TH GONE 1\n")
    assert docs_main.main(["--root", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "cgan-train.1" in err and "cgan-gone.1" in err and "python -m cgan_cli.docs" in err
    assert "cgan-sample.1" not in err
    assert docs_main.main(["--root", str(tmp_path)]) == 0
    assert not (tmp_path / "man" / "cgan-gone.1").exists()
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files behind
    assert docs_main.main(["--root", str(tmp_path), "--check"]) == 0


# ------------------------------------------------------------------------------------------ completions


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_parses(shell):
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed")
    path = ROOT / completions.FILES[shell]
    result = subprocess.run([binary, "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert "_CGAN_COMPLETE=complete_" in path.read_text()


def test_zsh_script_keeps_compdef_first():
    assert (ROOT / completions.FILES["zsh"]).read_text().startswith("#compdef cgan\n")


def bash_complete(tmp_path: Path, cases: list[tuple[list[str], int]]) -> list[list[str]]:
    """COMPREPLY of the committed bash script for each (COMP_WORDS, COMP_CWORD), against the real CLI through a
    `cgan` shim first on PATH."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "cgan"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m cgan_cli "$@"\n')
    shim.chmod(0o755)
    script = [f"source {ROOT / completions.FILES['bash']}", "complete -p cgan >/dev/null || exit 3"]
    for words, cword in cases:
        quoted = " ".join(f"'{w}'" for w in words)
        script += [
            f"COMP_WORDS=({quoted}); COMP_CWORD={cword}; COMPREPLY=()",
            "_cgan_completion cgan",
            'printf "%s\\n" "${COMPREPLY[@]}"; echo "@@"',
        ]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([bash, "-c", "\n".join(script)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    chunks = result.stdout.split("@@\n")[: len(cases)]
    return [[w for w in chunk.splitlines() if w] for chunk in chunks]


def test_bash_completion_runs_the_cli(tmp_path):
    commands, families, options = bash_complete(
        tmp_path, [(["cgan", "ev"], 1), (["cgan", "train", ""], 2), (["cgan", "translate", "--dev"], 2)]
    )
    assert commands == ["eval"]
    assert set(FAMILIES) <= set(families) and "eval" not in families
    assert options == ["--device"]


# ------------------------------------------------------------------------------------------ man pages


def test_th_line_has_the_release_date_and_version(pages):
    for name, text in pages.items():
        title = name.removesuffix(".1").upper().replace("-", r"\-")
        expected = f'.TH {title} 1 "{cgan_cli.__date__}" "cgan {cgan_cli.__version__}" "cgan manual"'
        assert [line for line in text.splitlines() if line.startswith(".TH ")] == [expected], name


def test_root_page_lists_every_subcommand_and_global_option(pages):
    source = pages["cgan.1"]
    commands = plain(section(source, "COMMANDS"))
    for name, sub, _ in click_tree():
        assert rf"\fB{name}\fR" in commands and rf".BR cgan\-{name} (1)" in source, name
        assert plain(manpages.inline(manpages.summary(sub))) in commands
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="cgan", **root.context_settings)
    options = plain(section(source, "OPTIONS"))
    own = [o for p in root.get_params(ctx) for o in (*p.opts, *p.secondary_opts)]
    assert "--version" in own and "-V" in own
    for flag in own:
        assert rf"\fB{flag}\fR" in options, flag


def test_every_option_of_every_command_is_in_its_page(pages):
    for name, sub, ctx in click_tree():
        text = plain(pages[f"cgan-{name}.1"])
        flags = long_flags(sub, ctx)
        assert "--help" in flags and len(flags) > 2
        missing = sorted(f for f in flags if not re.search(rf"\\fB{re.escape(f)}\\fR", text))
        assert not missing, f"cgan-{name}.1 lacks {missing}"
        for param in sub.get_params(ctx):
            if getattr(param, "param_type_name", "") == "argument":
                assert rf"\fI{param.name.upper()}\fR" in text, (name, param.name)


def test_train_page_has_a_subsection_per_family_with_its_own_options(pages):
    text = plain(pages["cgan-train.1"])
    families = section(pages["cgan-train.1"], "FAMILIES")
    for family in FAMILIES:
        assert f"\n.SS {family}\n" in families, family
        assert f".B cgan train {family}" in plain(families)
    assert r"\fB--resume\fR \fIPATH\fR" in section(text, "OPTIONS")
    assert r"\fB--net-g\fR" in text and r"\fB--no-dropout\fR" in text and r"\fB--no-flip\fR" in text
    # a default that depends on the host is described, never printed as this machine's number
    assert "[default: min(4, CPU count); x>=0]" in text
    assert f"[default: {default_workers()}; x>=0]" not in text


@pytest.mark.parametrize("command", ["translate", "eval", "sample", "text2img"])
def test_thread_defaults_are_described_per_command(pages, command):
    """Loader processes (train) and decode/encode threads (the rest) have different host-dependent defaults."""
    text = plain(pages[f"cgan-{command}.1"])
    assert "[default: min(16, CPU count); x>=1]" in text and "min(4, CPU count)" not in text


def test_every_page_has_exit_statuses_examples_and_see_also(pages):
    for name, text in pages.items():
        statuses = section(text, "EXIT STATUS")
        for code in ("0", "1", "2", "130"):
            assert f".B {code}\n" in statuses, (name, code)
        examples = plain(section(text, "EXAMPLES"))
        assert ".nf\n" in examples and re.search(r"^.*\bcgan\b", examples, re.M), name
        see_also = section(text, "SEE ALSO")
        assert len(re.findall(r"^\.BR cgan", see_also, re.M)) == len(pages) - 1, name
    for name, page in pages.items():  # every page shows its command in a pipeline
        assert "|" in section(plain(page), "EXAMPLES"), name
    assert "find photos -name '*.jpg' | cgan translate" in plain(pages["cgan-translate.1"])


def test_examples_use_only_options_their_command_has():
    root = manpages.root_node()
    shown = 0
    for key, examples in manpages.EXAMPLES.items():
        for _, command in examples:
            if not manpages.runnable(root, command):
                continue
            for words in manpages.invocations(command):
                chain = manpages.resolve(root, words)
                allowed = {o for node in chain for p in node.params() for o in (*p.opts, *p.secondary_opts)}
                for flag in (w.split("=")[0] for w in words if w.startswith("-") and w != "-"):
                    assert flag in allowed, f"example of {key or 'cgan'} uses {flag}, which {chain[-1].name} lacks"
            shown += 1
    assert shown >= 20


def test_examples_only_for_registered_commands_and_a_fallback_for_the_rest(monkeypatch):
    root = manpages.root_node()
    registered = {name for name, _, _ in click_tree()}
    assert manpages.runnable(root, "find . | cgan translate ckpt - --out o/ | xargs ls")
    assert not manpages.runnable(root, "cgan translate ckpt - --out o/ && cgan frobnicate x")
    export_page = manpages.man_pages().get("cgan-export.1")
    assert (export_page is not None) == ("export" in registered)
    if export_page is not None:
        assert r"cgan export runs/facades/latest.safetensors \-\-format onnx" in export_page
    monkeypatch.setitem(manpages.EXAMPLES, "demo", [])
    demo = manpages.man_pages()["cgan-demo.1"]
    assert r"cgan demo \-\-help" in section(demo, "EXAMPLES")


def test_escaping():
    assert manpages.escape(r"a\b-c 'd' × ‖") == r"a\eb\-c \(aqd\(aq \[u00D7] ||"
    assert manpages.line(".hidden request") == r"\&.hidden request"
    assert manpages.line("'quote") == r"\&'quote"
    assert manpages.inline("use `--out DIR`.") == r"use \fB\-\-out DIR\fR."
    assert manpages.code_line("  .x") == "  .x" and manpages.code_line(".x") == r"\&.x"


REQUESTS = r"\.(TH|SH|SS|TP|PP|RS|RE|B|BR|nf|fi|nh|br|ad l)( |$)|\.\\\""


def test_page_sources_are_escaped(pages):
    for name, text in pages.items():
        assert text.isascii(), name
        for number, line in enumerate(text.splitlines(), 1):
            if line.startswith((".", "'")):  # so no text line starts with . or ' (roff would take it for a request)
                assert re.match(REQUESTS, line), f"{name}:{number}: {line}"
            if not line.startswith((".TH ", '.\\"')):
                assert "-" not in line.replace(r"\-", ""), f"{name}:{number}: a hyphen not written \\-: {line}"


def test_groff_lints_every_page_without_warnings():
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    for page in sorted((ROOT / "man").glob("*.1")):
        for device in ([], ["-Tutf8"]):
            result = subprocess.run([groff, "-man", "-ww", "-z", *device, str(page)], capture_output=True, text=True)
            assert result.returncode == 0 and result.stderr == "", f"{page.name} {device}: {result.stderr}"


def render(page: Path) -> str:
    groff, man = shutil.which("groff"), shutil.which("man")
    if groff is not None:
        cmd = [groff, "-man", "-Tutf8", "-P-cbou", str(page)]
    elif man is not None:
        cmd = [man, "-l", str(page)]
    else:
        pytest.skip("neither groff nor man is installed")
    env = {**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": "", "MANPAGER": "cat", "PAGER": "cat"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return re.sub(".\b", "", result.stdout)


def test_rendered_pages_show_no_roff_syntax():
    for page in sorted((ROOT / "man").glob("*.1")):
        text = render(page)
        assert not re.search(r"\\[-e&(\[f*:]", text), f"{page.name}: an escape leaked: {text[:200]}"
        assert not re.search(r"^\s*\.[A-Za-z]{1,2}\b", text, re.M), f"{page.name}: a request leaked"
        assert "EXAMPLES" in text and "EXIT STATUS" in text and "SEE ALSO" in text
    text = render(ROOT / "man" / "cgan-translate.1").replace("\u2212", "-").replace("\u2010", "-")
    assert "find photos -name '*.jpg' | cgan translate runs/h2z/latest.safetensors - --out out/ |" in text
    assert "--batch-size" in text and "cgan-translate - Translate images" in text
