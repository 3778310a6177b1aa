"""infogan on Fashion-MNIST at 32×32, unsupervised: does its categorical code c0 find the classes?

What runs, as a user runs it (fresh processes, the real CLI):

    python -m cgan_cli train infogan --images WORK/data/train-perN --out WORK/runs/infogan --image-size 32 \\
        --net NET --cat-codes K --cont-codes C --steps S --epochs E --batch-size B --ngf G --ndf D --seed SEED [...]
    python -m cgan_cli sample WORK/runs/infogan/latest.safetensors --code c0=k -n N --out WORK/samples/c0-k
        (for every k < K)
    python -m cgan_cli interp WORK/runs/infogan/latest.safetensors --walk c0 --seeds 0-7 --grid FIGURE

The data and the judge are benchmarks/fashion_mnist.py's (imported, not copied): the first `--per-class`
train images of each class as grey PNGs, which infogan's `--images` reads as one unlabelled folder, and the
small CNN trained on the real train split (its t10k accuracy is printed). Every sample of code value k is
classified; from the K × 10 table of counts come two purities:

- Hungarian: the best one-to-one matching of code values to classes (scipy's linear_sum_assignment), the
  share of samples whose class is their code value's match: 1.0 when each value makes one class of its own,
  0.10 for a code G ignores (or less with K < 10 values).
- majority: each code value scored by its most frequent class (several values may share one), the share of
  samples in their value's majority class; ≥ the Hungarian figure.

    python benchmarks/infogan_purity.py                      # defaults: --help
    python benchmarks/infogan_purity.py --steps 3000 --json
    python benchmarks/infogan_purity.py --net dcgan          # DCGAN's networks (widths 32) instead of the paper's
    python benchmarks/infogan_purity.py --quick              # a smoke run of seconds

`--json`: one JSON line on stdout. Without the dataset the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fashion_mnist as fm  # noqa: E402 — the data, the classifier and the child processes of that benchmark

from cgan_cli.config.infogan import NETS, InfoGANConfig  # noqa: E402
from cgan_cli.data.classes import resize_and_centre_crop  # noqa: E402
from cgan_cli.data.idx import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR  # noqa: E402
from cgan_cli.data.io import read_image, to_tensor  # noqa: E402
from cgan_cli.device import resolve_device  # noqa: E402

QUICK = {"steps": 20, "batch_size": 16, "ngf": 8, "ndf": 8, "per_class": 20, "samples": 4, "clf_epochs": 1,
         "clf_limit": 2000, "figure_seeds": 2}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train infogan unsupervised on Fashion-MNIST (32×32) through the CLI, sample N images per "
        "value of its categorical code c0 and report how purely the values map to classes (a CNN judges).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--steps", type=int, default=3000, help="Training steps.")
    p.add_argument("--batch-size", type=int, default=64, help="Images per step (InfoGAN's is 128).")
    p.add_argument("--net", choices=NETS, default="auto", help="infogan --net (auto: the paper's net at 32×32).")
    p.add_argument("--ngf", type=int, default=None, help="Generator width (default: 32 for --net dcgan, as the first "
                   "recorded runs; infogan's 128, the paper's widths, for the paper net).")  # fmt: skip
    p.add_argument("--ndf", type=int, default=None, help="Discriminator width (default: as --ngf's).")
    p.add_argument("--cat", type=int, default=10, help="Categories of c0 (--cat-codes).")
    p.add_argument("--cont-codes", type=int, default=2, help="Continuous codes (--cont-codes).")
    p.add_argument("--train-args", default="", help="More options for `cgan train`, one shell-quoted string.")
    p.add_argument("--seed", type=int, default=0, help="Training seed.")
    p.add_argument("--per-class", type=int, default=1000, help="Training images per class (of 6000); unlabelled.")
    p.add_argument("-n", "--samples", type=int, default=100, help="Samples per code value to classify.")
    p.add_argument("--figure-seeds", type=int, default=8, help="Rows (seeds) of the figure, a column per value.")
    p.add_argument("--figure", type=Path, default=None, help="Also copy the figure here (e.g. benchmarks/figures/).")
    p.add_argument("--clf-epochs", type=int, default=2, help="Epochs of the judging classifier.")
    p.add_argument("--clf-limit", type=int, default=0, help="Train the classifier on the first N images (0: all).")
    p.add_argument("--workers", type=int, default=1, help="cgan train --workers (data loader processes).")
    p.add_argument("--work", type=Path, default=fm.ROOT / "runs" / "bench-infogan", help="Cache and run folder.")
    p.add_argument("--data", type=Path, default=FASHION_MNIST_DIR, help="Folder of the Fashion-MNIST idx files.")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (training, sampling, classifier).")
    p.add_argument("--threads", type=int, default=1, help="Torch threads here and in the children (0: default).")
    p.add_argument("--quick", action="store_true", help=f"A smoke run: {QUICK}.")
    p.add_argument("--json", action="store_true", help="One JSON line on stdout (the summary → stderr).")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    args.net = InfoGANConfig(images="-", image_size=fm.IMAGE_SIZE, net=args.net).resolved_net()
    for name in ("ngf", "ndf"):
        if getattr(args, name) is None:
            setattr(args, name, 32 if args.net == "dcgan" else 128)
    for name in ("steps", "batch_size", "ngf", "ndf", "per_class", "samples", "clf_epochs", "figure_seeds"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.cat < 2:
        p.error("--cat must be at least 2")
    args.work = args.work.resolve()
    return args


def purity(counts: np.ndarray) -> dict:
    """(K code values × C classes) counts → the Hungarian one-to-one accuracy, the majority purity, the matching."""
    total = counts.sum()
    if total == 0:
        raise ValueError("no samples to score")
    rows, cols = linear_sum_assignment(-counts)
    return {
        "hungarian": float(counts[rows, cols].sum() / total),
        "majority": float(counts.max(1).sum() / total),
        "matching": {int(r): int(c) for r, c in zip(rows, cols)},
        "majority_class": [int(c) for c in counts.argmax(1)],
    }


def read_folder(folder: Path) -> torch.Tensor:
    files = sorted(folder.glob("*.png"))
    if not files:
        raise SystemExit(f"{folder}: no samples were written")
    return torch.stack([to_tensor(resize_and_centre_crop(read_image(f, 1), fm.IMAGE_SIZE)) for f in files])


def train_command(data: Path, run: Path, args: argparse.Namespace) -> list[str]:
    steps_per_epoch = math.ceil(args.per_class * fm.NUM_CLASSES / args.batch_size)
    epochs = math.ceil(args.steps / steps_per_epoch) + 1  # so that --steps, not the epochs, stops the run
    return [
        sys.executable, "-m", "cgan_cli", "train", "infogan", "--images", str(data), "--out", str(run),
        "--image-size", str(fm.IMAGE_SIZE), "--net", args.net, "--cat-codes", str(args.cat),
        "--cont-codes", str(args.cont_codes),
        "--steps", str(args.steps), "--epochs", str(epochs), "--batch-size", str(args.batch_size),
        "--ngf", str(args.ngf), "--ndf", str(args.ndf), "--seed", str(args.seed), "--device", args.device,
        "--workers", str(args.workers), "--log-every", str(max(50, args.steps // 20)),
        "--sample-every", str(max(500, args.steps // 10)), "--save-every", str(args.steps), "--keep", "1",
        *shlex.split(args.train_args),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return fm.run_benchmark(parse_args(argv), "infogan_purity", run)


def run(args: argparse.Namespace, say) -> dict:
    device = resolve_device(args.device)
    args.work.mkdir(parents=True, exist_ok=True)
    data, _ = fm.class_folders(args.data, args.work, args.per_class)
    model, clf = fm.judge(args.data, args.work, args.clf_epochs, args.clf_limit, device, say)
    runs, samples = args.work / "runs" / "infogan", args.work / "samples"
    for old in (runs, samples):
        shutil.rmtree(old, ignore_errors=True)
    env = fm.child_env(args.threads)
    cmd = train_command(data, runs, args)
    say(f"infogan: {fm.display(cmd)}")
    train_s = fm.run_child(cmd, env)
    ckpt = runs / "latest.safetensors"
    counts = np.zeros((args.cat, fm.NUM_CLASSES), np.int64)
    t0 = time.perf_counter()
    sample_cmd: list[str] = []
    for k in range(args.cat):
        sample_cmd = [sys.executable, "-m", "cgan_cli", "sample", str(ckpt), "--code", f"c0={k}",
                      "-n", str(args.samples), "--out", str(samples / f"c0-{k}"), "--device", args.device]  # fmt: skip
        fm.run_child(sample_cmd, env)
        pred = fm.predict(model, read_folder(samples / f"c0-{k}"), device)
        counts[k] += np.bincount(pred.numpy(), minlength=fm.NUM_CLASSES)
    sample_s = time.perf_counter() - t0
    figure = args.work / "infogan-c0.png"
    figure_cmd = [sys.executable, "-m", "cgan_cli", "interp", str(ckpt), "--walk", "c0", "--seeds",
                  f"0-{args.figure_seeds - 1}", "--grid", str(figure), "--device", args.device]  # fmt: skip
    fm.run_child(figure_cmd, env)
    if args.figure is not None:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(figure, args.figure)
    scores = purity(counts)
    last = f"={args.cat - 1}"
    result = {
        "benchmark": "infogan_purity",
        "net": args.net,
        "ngf": args.ngf,
        "ndf": args.ndf,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "train_wall_s": round(train_s, 1),
        "img_s": round(args.steps * args.batch_size / train_s, 1),
        "loop_img_s": fm.loop_rate(runs),
        "sample_wall_s": round(sample_s, 1),
        "samples_per_value": args.samples,
        "hungarian_purity": round(scores["hungarian"], 4),
        "majority_purity": round(scores["majority"], 4),
        "chance": round(1 / fm.NUM_CLASSES, 4),
        "matching": {f"c0={k}": FASHION_MNIST_CLASSES[c] for k, c in scores["matching"].items()},
        "majority_class": [FASHION_MNIST_CLASSES[c] for c in scores["majority_class"]],
        "distinct_majority_classes": len(set(scores["majority_class"])),
        "counts": counts.tolist(),
        "classifier_t10k_accuracy": clf["t10k_accuracy"],
        "train_command": fm.display(cmd),
        "sample_command": fm.display(sample_cmd).replace(f"c0{last}", "c0=K").replace(f"c0-{args.cat - 1}", "c0-K"),
        "figure_command": fm.display(figure_cmd),
        "figure": str(args.figure or figure),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("json", "data", "work", "figure")},  # fmt: skip
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "loadavg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    say(
        f"infogan ({args.net} net, widths {args.ngf}/{args.ndf}): {args.steps} steps in {train_s:.0f} s; c0 → class "
        f"purity: Hungarian {scores['hungarian']:.3f}, majority {scores['majority']:.3f} (chance "
        f"{1 / fm.NUM_CLASSES:.2f}; {result['distinct_majority_classes']} distinct majority classes; classifier on "
        f"t10k {clf['t10k_accuracy']:.3f})"
    )
    say("matching: " + ", ".join(f"{k} {v}" for k, v in result["matching"].items()))
    if args.json:
        print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
