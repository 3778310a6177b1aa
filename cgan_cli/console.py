"""stderr is for people (rich progress, logs, warnings), stdout is for data (paths, JSON lines).

Colour and animation only when stderr is a terminal and NO_COLOR is unset; rich honours NO_COLOR.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def stderr_console() -> Console:
    # Look up sys.stderr at call time: test runners swap it. rich is imported on first use, not by `--help`.
    from rich.console import Console

    return Console(file=sys.stderr, stderr=True, highlight=False, soft_wrap=True)


def animated(console: Console) -> bool:
    return console.is_terminal and not os.environ.get("NO_COLOR") and not console.is_dumb_terminal


def warn(message: str) -> None:
    stderr_console().print(f"cgan: warning: {message}", markup=False)


def info(message: str) -> None:
    stderr_console().print(message, markup=False)


def error(message: str) -> None:
    stderr_console().print(f"cgan: error: {message}", markup=False)


def out(line: str) -> None:
    """One line of data on stdout, flushed so pipes see it at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
