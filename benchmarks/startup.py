"""Start-up time of the `cgan` command against bare interpreters, in one run.

Each case is a fresh process, timed wall clock from spawn to exit (time.perf_counter around
subprocess.run, output discarded), `--runs` times, interleaved case by case so machine noise hits all
alike; the median per case is reported with its ratio to `python -c pass`, to `python -c "import typer"`
(the floor of any typer CLI) and to `python -c "import torch"` (what every call cost before the lazy
start-up). The goal: `cgan --help` within 2x of `import typer`.

    python benchmarks/startup.py            # 15 runs of each
    python benchmarks/startup.py --json     # one JSON object on stdout
    python benchmarks/startup.py --quick    # 3 runs (smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
# typer's own floor for a subcommand: a root option and one command, `sub --help`, with cgan's help mode off a
# terminal (plain); typer coerces the root's options through pydantic before it reaches the subcommand
TYPER_APP = """import typer
app = typer.Typer(rich_markup_mode=None)
@app.callback()
def root(version: bool = typer.Option(False, "--version")) -> None: ...
@app.command()
def sub(n: int = 1) -> None: ...
app(["sub", "--help"], prog_name="app")
"""
COMPLETION = {"_CGAN_COMPLETE": "complete_bash", "COMP_WORDS": "cgan train pix", "COMP_CWORD": "2"}
CASES = {
    "python -c pass": ([PY, "-c", "pass"], {}),
    "python -c 'import typer'": ([PY, "-c", "import typer"], {}),
    "python -c 'import torch'": ([PY, "-c", "import torch"], {}),
    "typer app: sub --help": ([PY, "-c", TYPER_APP], {}),
    "cgan --help": ([PY, "-m", "cgan_cli", "--help"], {}),
    "cgan --version": ([PY, "-m", "cgan_cli", "--version"], {}),
    "cgan translate --help": ([PY, "-m", "cgan_cli", "translate", "--help"], {}),
    "cgan train pix2pix --help": ([PY, "-m", "cgan_cli", "train", "pix2pix", "--help"], {}),
    "completion (cgan train pix<Tab>)": ([PY, "-m", "cgan_cli"], COMPLETION),
}


def once(argv: list[str], extra: dict[str, str]) -> float:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("_CGAN_COMPLETE")}, **extra}
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=15, help="Runs of each case (the median is reported).")
    p.add_argument("--quick", action="store_true", help="3 runs of each (a smoke run).")
    p.add_argument("--json", action="store_true", help="One JSON object on stdout (the table → stderr).")
    args = p.parse_args(argv)
    runs = 3 if args.quick else args.runs
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for cmd, extra in CASES.values():  # warm the page cache and .pyc files first
        once(cmd, extra)
    for _ in range(runs):
        for name, (cmd, extra) in CASES.items():
            times[name].append(once(cmd, extra))
    median = {name: statistics.median(t) for name, t in times.items()}
    bare, typer, torch = (median[k] for k in ("python -c pass", "python -c 'import typer'", "python -c 'import torch'"))
    rows = {name: {"median_s": m, "vs_pass": m / bare, "vs_typer": m / typer, "vs_torch": m / torch}
            for name, m in median.items()}  # fmt: skip
    report = {"runs": runs, "cases": rows, "help_vs_typer": median["cgan --help"] / typer,
              "goal_met": median["cgan --help"] <= 2 * typer}  # fmt: skip
    out = sys.stderr if args.json else sys.stdout
    print(f"{'case':36} {'median':>8} {'÷pass':>7} {'÷typer':>7} {'÷torch':>7}   ({runs} runs each)", file=out)
    for name, r in rows.items():
        print(f"{name:36} {r['median_s']:7.3f}s {r['vs_pass']:7.2f} {r['vs_typer']:7.2f} {r['vs_torch']:7.2f}",
              file=out)  # fmt: skip
    print(f"cgan --help is {report['help_vs_typer']:.2f}x `import typer` (goal: at most 2x)", file=out)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
