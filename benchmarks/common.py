"""Options, set-up and the CLI runner shared by the benchmark scripts."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from cgan_cli.device import resolve_device


def add_common_options(p: argparse.ArgumentParser, unit: str) -> None:
    """--device, --threads, --stat and --json; `unit` names what --stat combines (blocks, passes)."""
    p.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:N.")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads on CPU (0: torch's default).")
    p.add_argument(
        "--stat",
        default="median",
        choices=("median", "max"),
        help=f"How to combine the timed {unit}: median, or max (best case, for CPUs shared with other work).",
    )
    p.add_argument("--json", action="store_true", help="JSON lines on stdout (the human summary → stderr).")


def setup(args: argparse.Namespace) -> torch.device:
    if args.threads:
        torch.set_num_threads(args.threads)
    return resolve_device(args.device)


ROOT = Path(__file__).resolve().parents[1]


def child_env(threads: int) -> dict[str, str]:
    """The environment of a `python -m cgan_cli` child: this checkout first on the path, --threads threads."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def run_child(cmd: list[str], env: dict[str, str]) -> float:
    """Run a CLI command (stderr passes through); its wall time. Exits with its status on failure."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"{Path(sys.argv[0]).name}: failed (exit {proc.returncode}): {shlex.join(cmd)}", file=sys.stderr)
        raise SystemExit(proc.returncode or 1)
    return wall


def display(cmd: list[str]) -> str:
    """The command as a user would type it: `cgan …` instead of `python -m cgan_cli …`."""
    return shlex.join(["cgan", *cmd[3:]])
