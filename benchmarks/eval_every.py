"""`cgan train --eval-every` on CMP Facades: the FID curve of a pix2pix run, and what evaluating costs.

The data and split are facades.py's: the last `--held-out` files of ../shared/data/facades-train are held out,
pix2pix (label map → photo, `--direction BtoA`, unet at `--size`) trains on the rest through the real CLI, and
every `--eval-every` steps the run scores itself on the held-out A|B files (`--eval-real TEST`: FID, L1, PSNR,
SSIM of the translated label maps against their photos at SIZE², exactly as `cgan eval TEST CKPT --aligned
--size SIZE` would). The curve is read back from the run's log.jsonl, with the best step best.safetensors holds.

Overhead: two more runs of `--overhead-steps` steps, one without evaluation and one with `--overhead-every`,
in fresh processes one after the other (without first), same seed and data. **Ratio = training throughput with
evaluation ÷ without** (steps per second of wall time, start-up included for both), so 0.8 means evaluating
cost a fifth of the run's time.

    python benchmarks/eval_every.py                         # 3000 steps, an evaluation every 250
    python benchmarks/eval_every.py --steps 1000 --eval-every 100 --json
    python benchmarks/eval_every.py --quick                 # 64², 20 steps, tiny nets: a smoke run

Without the data the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import facades  # noqa: E402
from common import ROOT, child_env, display, run_child  # noqa: E402

from cgan_cli.watch import runlog  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="pix2pix on facades with --eval-every: the held-out FID curve, the best step, and the "
        "throughput ratio of training with and without evaluation.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--steps", type=int, default=3000, help="Steps of the curve run.")
    p.add_argument("--eval-every", type=int, default=250, help="Its evaluation interval.")
    p.add_argument("--overhead-steps", type=int, default=400, help="Steps of each overhead run (0: skip them).")
    p.add_argument("--overhead-every", type=int, default=100, help="The evaluation interval of the overhead run.")
    p.add_argument("--size", type=int, default=128, help="Training crop and evaluation side (64, 128 or 256).")
    p.add_argument("--held-out", type=int, default=50, help="Files held out for evaluation (the last by name).")
    p.add_argument("--ngf", type=int, default=64, help="Generator width.")
    p.add_argument("--ndf", type=int, default=64, help="Discriminator width.")
    p.add_argument("--seed", type=int, default=0, help="Training seed.")
    p.add_argument("--threads", type=int, default=1, help="Torch threads in the children (0: torch's default).")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N.")
    p.add_argument("--data", type=Path, default=facades.DATA, help="A pix2pix-aligned facades folder.")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-eval-every", help="Run folder.")
    p.add_argument("--quick", action="store_true", help="64², 20 steps, evaluations every 10, widths 8, 8 held out.")
    p.add_argument("--json", action="store_true", help="One JSON line per evaluation, then the summary, on stdout.")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.steps, args.eval_every, args.ngf, args.ndf, args.held_out = 64, 20, 10, 8, 8, 8
        args.overhead_steps, args.overhead_every = 10, 5
    if args.size not in (64, 128, 256):
        p.error("--size must be 64, 128 or 256")
    for name in ("steps", "eval_every", "overhead_every", "held_out", "ngf", "ndf"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.work = args.work.resolve()
    return args


def train(run: Path, train_dir: Path, test: Path, steps: int, every: int, args: argparse.Namespace) -> float:
    """One pix2pix run (fresh process); its wall time."""
    cmd = [sys.executable, "-m", "cgan_cli", "train", "pix2pix", "--out", str(run),
           *facades.train_args("pix2pix", train_dir, args), "--ngf", str(args.ngf), "--ndf", str(args.ndf),
           "--steps", str(steps), "--seed", str(args.seed), "--device", args.device, "--workers", "1",
           "--log-every", "50", "--sample-every", str(max(steps // 6, 1)), "--save-every", str(steps)]  # fmt: skip
    if every:
        cmd += ["--eval-every", str(every), "--eval-real", str(test)]
    print(f"$ {display(cmd)}", file=sys.stderr)
    return run_child(cmd, child_env(args.threads))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_dir():
        print(f"eval_every.py: no facades data at {args.data} (see ../shared/README.md)", file=sys.stderr)
        return 0
    train_dir, test, _ = facades.split(args)
    curve_run = args.work / "curve"
    for run in ("curve", "plain", "evaluated"):
        shutil.rmtree(args.work / run, ignore_errors=True)
    wall = train(curve_run, train_dir, test, args.steps, args.eval_every, args)
    evals = [r for r in runlog.read(curve_run) if "eval" in r]
    rows = [{"step": r["step"], **{k: v for k, v in r["eval"].items() if k != "settings"}, "eval_s": r["eval_s"]}
            for r in evals]  # fmt: skip
    best = evals[-1]["best"] if evals else None
    summary: dict[str, object] = {"steps": args.steps, "eval_every": args.eval_every, "size": args.size,
                                  "held_out": args.held_out, "curve_wall_s": round(wall, 1), "best": best,
                                  "eval_s_total": round(sum(r["eval_s"] for r in rows), 1)}  # fmt: skip
    if args.overhead_steps:
        plain = train(args.work / "plain", train_dir, test, args.overhead_steps, 0, args)
        evaluated = train(args.work / "evaluated", train_dir, test, args.overhead_steps, args.overhead_every, args)
        summary.update(overhead_steps=args.overhead_steps, overhead_every=args.overhead_every,
                       plain_wall_s=round(plain, 1), evaluated_wall_s=round(evaluated, 1),
                       ratio=round(plain / evaluated, 3))  # fmt: skip
    if args.json:
        for row in rows:
            print(json.dumps(row))
        print(json.dumps(summary))
    out = sys.stderr if args.json else sys.stdout
    keys = [k for k in ("fid", "l1", "psnr", "ssim") if rows and k in rows[0]]
    print("| step | " + " | ".join(keys) + " |", file=out)
    print("|---:|" + "---:|" * len(keys), file=out)
    for row in rows:
        print(f"| {row['step']} | " + " | ".join(f"{row[k]:.4g}" for k in keys) + " |", file=out)
    print(json.dumps(summary), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
