"""Reading CliRunner results the way the CLI tests check them: data on stdout, one `cgan: error:` line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import Result


def ok(result: Result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    assert error_lines(result) == []
    return result.stdout.splitlines()


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("cgan: error:")]


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    errors = error_lines(result)
    assert len(errors) == 1, result.stderr
    return errors[0]


def pixels(path: Path | str) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img).astype(np.int16)
