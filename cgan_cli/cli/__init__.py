"""The `cgan` command: one small module per subcommand, joined here.

Nothing here or in the subcommand modules imports torch: `cgan --help`, `--version`, every `--help` and
shell completion answer at once, and each command imports its service when it runs."""

from __future__ import annotations

from typing import Annotated

import typer

from cgan_cli import __version__
from cgan_cli.cli import demo, eval, export, info, interp, plot, report, sample, text2img, train, translate
from cgan_cli.cli.common import HELP_MODE

app = typer.Typer(
    name="cgan",
    help="Conditional GANs from the command line: train, translate, sample, evaluate and export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=HELP_MODE,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cgan {__version__} (torch {_installed('torch')})")
        raise typer.Exit()


def _installed(package: str) -> str:
    """A package's version from its metadata, without importing it (importing torch takes seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


@app.callback()
def cgan(
    version: Annotated[
        bool | None,
        typer.Option("--version", "-V", help="Print the version and exit.", callback=_version, is_eager=True),
    ] = None,
) -> None:
    """Conditional GANs from the command line: train, translate, sample, evaluate and export."""


app.add_typer(train.app, name="train")
app.command("translate")(translate.translate)
app.command("sample")(sample.sample)
app.command("text2img")(text2img.text2img)
app.command("interp")(interp.interp)
app.command("eval")(eval.evaluate)
app.command("export")(export.export)
app.command("info")(info.info)
app.command("plot")(plot.plot)
app.command("report")(report.report)
app.command("demo")(demo.demo)


def main() -> None:
    """Entry point of `cgan` and `python -m cgan_cli`: one program name, so both print `cgan` in usage lines
    and answer the same `_CGAN_COMPLETE` shell-completion variable."""
    app(prog_name="cgan")
