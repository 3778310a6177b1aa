"""Exit statuses and the one exception type commands turn into a one-line error."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    INTERRUPTED = 130


class CganError(Exception):
    """An error a user can act on: printed as one line, never as a traceback."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CganError):
    """Bad options or arguments (exit 2)."""

    exit_code = ExitCode.USAGE


class CheckpointError(CganError):
    """A checkpoint that is missing, damaged, tampered with or of the wrong kind."""


class ImageReadError(CganError):
    """An input that is not a readable image."""

    def __init__(self, path: object, reason: str | None = None) -> None:
        # One-argument form: DataLoader workers re-create exceptions from their message alone.
        super().__init__(str(path) if reason is None else f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DataError(CganError):
    """A dataset whose layout is wrong (missing partners, empty folders, ...)."""
