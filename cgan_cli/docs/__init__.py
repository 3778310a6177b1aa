"""Shell completions and man pages generated from the `cgan` command tree itself.

Generated rather than hand-written so they cannot drift from `--help`; `tests/test_docs.py` regenerates them and
compares them with the committed `completions/` and `man/` files. Regenerate with `python -m cgan_cli.docs`.
"""

from __future__ import annotations

from pathlib import Path

from cgan_cli.data.atomic import atomic_write_bytes

REPO_ROOT = Path(__file__).resolve().parent.parent.parent  # the parent of the cgan_cli package folder
MAN_GLOB = "man/cgan*.1"  # what the generator owns in man/: a page it no longer makes is stale


def generated_files() -> dict[str, bytes]:
    """Every generated file's bytes, by path relative to the repository root (deterministic)."""
    from cgan_cli.docs.completions import completion_files
    from cgan_cli.docs.manpages import man_pages

    files = completion_files()
    files.update({f"man/{name}": text.encode("ascii") for name, text in man_pages().items()})
    return files


def stale_files(root: Path, files: dict[str, bytes]) -> list[str]:
    """Paths under `root` that differ from `files`, are missing, or are man pages no command makes any more."""
    stale = [rel for rel, data in files.items() if not (root / rel).is_file() or (root / rel).read_bytes() != data]
    extra = [p.relative_to(root).as_posix() for p in root.glob(MAN_GLOB)]
    return sorted(stale + [rel for rel in extra if rel not in files])


def write_files(root: Path, files: dict[str, bytes]) -> list[str]:
    """Bring `root` up to date: write what changed (atomically), remove obsolete man pages; returns what changed."""
    changed = stale_files(root, files)
    for rel in changed:
        if rel in files:
            atomic_write_bytes(root / rel, files[rel])
        else:
            (root / rel).unlink()
    return changed
