"""`cgan info CKPT…`: what a checkpoint or export file is, without building its networks.

Like every CLI module it imports no torch: the service (`cgan_cli.inspection`) is imported when the command runs.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cgan_cli.cli.common import exits_cleanly, json_option
from cgan_cli.console import error, out
from cgan_cli.errors import CganError, ExitCode

AsJson = json_option("One JSON object per file (JSON lines) instead of text blocks.")


@exits_cleanly
def info(
    paths: Annotated[
        list[str],
        typer.Argument(help="Checkpoints (.safetensors) or exports (.onnx, .pt), or - to read paths from stdin."),
    ],
    as_json: AsJson = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print nothing for good files: check them only (see the exit status)."),
    ] = False,
) -> None:
    """Describe checkpoints and exports without building their networks. Prints each file's family, step,
    config (the options changed from the family's defaults first), image size, labels, text encoder, tensor
    groups, parameter counts and versions. Digests are verified as by every command: a bad file is named on
    stderr, the others are still described, and the exit status is 1."""
    from cgan_cli.inspection import describe_all, read_paths, render

    files = read_paths(paths)
    if not files:
        raise CganError("no files to describe (stdin held no paths)")
    failed = shown = 0
    for record, problem in describe_all(files):
        if record is None:
            failed += 1
            error(problem)
        elif quiet:
            continue
        elif as_json:
            out(json.dumps(record))
        else:
            out(("\n" if shown else "") + render(record))
            shown += 1
    if failed:
        raise typer.Exit(int(ExitCode.FAILURE))
