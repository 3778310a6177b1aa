"""Options and set-up shared by the benchmark scripts."""

from __future__ import annotations

import argparse

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
