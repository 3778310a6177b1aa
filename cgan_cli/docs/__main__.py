"""`python -m cgan_cli.docs [--root DIR] [--check]`: regenerate, or check, `completions/` and `man/`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cgan_cli.docs import REPO_ROOT, generated_files, stale_files, write_files


def main(argv: list[str] | None = None) -> int:
    """Write the generated files under --root (or only name the stale ones with --check); the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m cgan_cli.docs", description="Regenerate cgan's shell completions and man pages."
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=REPO_ROOT,
        metavar="DIR",
        help="write DIR/completions and DIR/man (default: %(default)s)",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming the stale files")
    args = parser.parse_args(argv)
    files = generated_files()
    if args.check:
        stale = stale_files(args.root, files)
        for rel in stale:
            print(f"stale: {args.root / rel}", file=sys.stderr)
        if stale:
            print("run `python -m cgan_cli.docs` to regenerate them", file=sys.stderr)
        return 1 if stale else 0
    for rel in write_files(args.root, files):
        print(args.root / rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
