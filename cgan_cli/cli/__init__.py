"""The `cgan` command: one small module per subcommand, joined here."""

from __future__ import annotations

from typing import Annotated

import typer

from cgan_cli import __version__
from cgan_cli.cli import demo, eval, export, interp, sample, text2img, train, translate

app = typer.Typer(
    name="cgan",
    help="Conditional GANs from the command line: train, translate, sample, evaluate and export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        import torch

        typer.echo(f"cgan {__version__} (torch {torch.__version__})")
        raise typer.Exit()


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
app.command("demo")(demo.demo)


def main() -> None:
    """Entry point of `cgan` and `python -m cgan_cli`: one program name, so both print `cgan` in usage lines
    and answer the same `_CGAN_COMPLETE` shell-completion variable."""
    app(prog_name="cgan")
