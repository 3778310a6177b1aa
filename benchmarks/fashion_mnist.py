"""cgan / acgan on Fashion-MNIST at 32×32: do samples asked for class k look like class k?

What runs, for each `--family`, as a user runs it (fresh processes, the real CLI):

    python -m cgan_cli train FAMILY --classes WORK/data/train-perN --out WORK/runs/FAMILY --image-size 32 \\
        --steps S --epochs E --batch-size B --ngf G --ndf D --lr LR --seed SEED --device DEV [...]
    python -m cgan_cli sample WORK/runs/FAMILY/latest.safetensors --class all -n N --out WORK/samples/FAMILY

The data: the first `--per-class` images of each class of the Fashion-MNIST train split (Debian's
`dataset-fashion-mnist`, `/usr/share/datasets/fashion-mnist`), written once as grey PNG class folders with
`cgan_cli.data.idx.write_class_folders` under `--work` (reruns reuse them). `--epochs` is set high enough
that `--steps` is what stops training, at a constant learning rate.

The judge: a small CNN (2 conv layers + linear) trained here on the real train split (all 60,000 images
unless `--clf-limit`), on images made exactly as cgan's `LabelledDataset` makes them (bicubic resize to
32×32, grey, [-1, 1]). It is cached under `--work`. Its accuracy on the t10k split is the ceiling to compare
the samples' class accuracy with; chance is 0.10.

The numbers: steps, wall time of the train command (process start to exit: start-up, data listing, sample
grids and checkpoints included), img/s = steps × batch / that wall time, the training loop's own img/s
(median of log.jsonl's intervals), and the samples' class accuracy, overall and per class.

    python benchmarks/fashion_mnist.py                               # cgan and acgan (defaults: --help)
    python benchmarks/fashion_mnist.py --family acgan --steps 3000 --ema 0.999 --json
    python benchmarks/fashion_mnist.py --family cgan --train-args "--loss hinge --spectral-norm"

`--json`: one JSON line per family on stdout. Without the dataset the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from cgan_cli.config.choices import GAN_LOSSES
from cgan_cli.data.classes import resize_and_centre_crop
from cgan_cli.data.idx import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, read_fashion_mnist, write_class_folders
from cgan_cli.data.io import read_image, to_tensor
from cgan_cli.device import resolve_device
from cgan_cli.errors import CganError

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `common` when imported from elsewhere (tests)
from common import ROOT, child_env, display, run_child  # noqa: E402, F401  (re-exported to the other benchmarks)

IMAGE_SIZE = 32
NUM_CLASSES = len(FASHION_MNIST_CLASSES)
CHANCE = 1.0 / NUM_CLASSES
FAMILIES = ("cgan", "acgan")
DATA_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train cgan/acgan on Fashion-MNIST (32×32) through the CLI, sample N images per class and "
        "report how many a CNN trained on the real images puts in the asked-for class (chance 0.10).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--family", default="both", choices=(*FAMILIES, "both"), help="Which model(s) to train.")
    p.add_argument("--steps", type=int, default=2000, help="Training steps per family.")
    p.add_argument("--batch-size", type=int, default=64, help="Images per step (DCGAN's 64).")
    p.add_argument("--ngf", type=int, default=32, help="Generator width (DCGAN's is 128; 32 suits a CPU).")
    p.add_argument("--ndf", type=int, default=32, help="Discriminator width.")
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (betas are DCGAN's 0.5, 0.999).")
    p.add_argument("--ema", type=float, default=0.0, help="EMA generator decay, e.g. 0.999 (0: off).")
    p.add_argument("--loss", default="nonsat", choices=GAN_LOSSES, help="cgan train --loss.")
    p.add_argument("--spectral-norm", action="store_true", help="cgan train --spectral-norm.")
    p.add_argument("--train-args", default="", help="More options for `cgan train`, one shell-quoted string.")
    p.add_argument("--seed", type=int, default=0, help="Training seed.")
    p.add_argument("--per-class", type=int, default=1000, help="Training images per class (of 6000).")
    p.add_argument("-n", "--samples", type=int, default=100, help="Samples per class to classify.")
    p.add_argument("--clf-epochs", type=int, default=2, help="Epochs of the judging classifier.")
    p.add_argument("--clf-limit", type=int, default=0, help="Train the classifier on the first N images (0: all).")
    p.add_argument("--workers", type=int, default=1, help="cgan train --workers (data loader processes).")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-fashion-mnist", help="Cache and run folder.")
    p.add_argument("--data", type=Path, default=FASHION_MNIST_DIR, help="Folder of the Fashion-MNIST idx files.")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (training, sampling, classifier).")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="Torch threads here and in the children (0: torch's default). 1 is far faster on a shared 2-core VM.",
    )
    p.add_argument("--json", action="store_true", help="One JSON line per family on stdout (the summary → stderr).")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "ngf", "ndf", "per_class", "samples", "clf_epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.work = args.work.resolve()  # the CLI runs with the repository as its working folder
    return args


# --- data ----------------------------------------------------------------------------------------


def dataset_missing(root: Path) -> str | None:
    """Why the idx files cannot be used, or None when all four are there (plain or gzipped)."""
    if not root.is_dir():
        return f"{root} is absent (install Debian's dataset-fashion-mnist, or give --data DIR)"
    missing = [f for f in DATA_FILES if not (root / f).exists() and not (root / f"{f}.gz").exists()]
    if missing:
        return f"{root} lacks {', '.join(missing)} (.gz or plain)"
    return None


def class_folders(root: Path, work: Path, per_class: int) -> tuple[Path, int]:
    """WORK/data/train-per<N>/<class>/<index>.png, written once; (folder, files written this time)."""
    out = work / "data" / f"train-per{per_class}"
    done = out / ".complete"
    if done.exists():
        return out, 0
    images, labels = read_fashion_mnist("train", root)
    written = write_class_folders(images, labels, out, FASHION_MNIST_CLASSES, per_class)
    done.write_text(f"{per_class}\n")
    return out, written


def to_model_input(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) → float (N, 1, 32, 32) in [-1, 1], pixel for pixel what LabelledDataset gives cgan."""
    return torch.stack([to_tensor(resize_and_centre_crop(Image.fromarray(a), IMAGE_SIZE)) for a in images])


def read_samples(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """`cgan sample --class all` output → (images (N, 1, 32, 32), Fashion-MNIST labels taken from folder names)."""
    images, labels = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        label = FASHION_MNIST_CLASSES.index(sub.name)
        for f in sorted(sub.glob("*.png")):
            images.append(to_tensor(resize_and_centre_crop(read_image(f, 1), IMAGE_SIZE)))
            labels.append(label)
    if not images:
        raise SystemExit(f"{folder}: no samples were written")
    return torch.stack(images), torch.tensor(labels)


# --- the judging classifier ----------------------------------------------------------------------


class Classifier(nn.Module):
    """conv 3×3 32 → pool → conv 3×3 64 → pool → linear: about 0.88 on Fashion-MNIST's t10k after 2 epochs."""

    def __init__(self, classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * (IMAGE_SIZE // 4) ** 2, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def train_classifier(
    x: torch.Tensor, y: torch.Tensor, epochs: int, device: torch.device, seed: int = 0, batch_size: int = 128
) -> Classifier:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = Classifier(int(y.max()) + 1 if len(y) else NUM_CLASSES).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx].to(device)), y[idx].to(device)).backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)])


def class_accuracy(pred: torch.Tensor, target: torch.Tensor, classes: int) -> tuple[float, list[float | None]]:
    """(overall accuracy, accuracy within each target class; None for a class with no examples)."""
    if len(target) == 0:
        raise ValueError("no examples to score")
    hit = (pred == target).float()
    per_class: list[float | None] = []
    for k in range(classes):
        mask = target == k
        per_class.append(float(hit[mask].mean()) if bool(mask.any()) else None)
    return float(hit.mean()), per_class


def judge(root: Path, work: Path, epochs: int, limit: int, device: torch.device, say) -> tuple[Classifier, dict]:
    """The classifier (cached under WORK/classifier) and its figures on t10k."""
    tag = f"e{epochs}-n{limit or 'all'}"
    path = work / "classifier" / f"cnn-{tag}.safetensors"
    model = Classifier()
    if path.exists():
        model.load_state_dict(load_file(path))
        info = json.loads((path.with_suffix(".json")).read_text())
        say(f"classifier: cached {path} (t10k accuracy {info['t10k_accuracy']:.4f})")
        return model.to(device).eval(), info
    t0 = time.perf_counter()
    images, labels = read_fashion_mnist("train", root)
    if limit:
        images, labels = images[:limit], labels[:limit]
    x, y = to_model_input(images), torch.from_numpy(labels.astype(np.int64))
    test_images, test_labels = read_fashion_mnist("t10k", root)
    tx, ty = to_model_input(test_images), torch.from_numpy(test_labels.astype(np.int64))
    prep_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = train_classifier(x, y, epochs, device)
    train_s = time.perf_counter() - t0
    acc, per_class = class_accuracy(predict(model, tx, device), ty, NUM_CLASSES)
    info = {
        "t10k_accuracy": round(acc, 4),
        "t10k_per_class": dict(zip(FASHION_MNIST_CLASSES, [round(a, 4) for a in per_class])),
        "train_images": len(x),
        "epochs": epochs,
        "prep_s": round(prep_s, 1),
        "train_s": round(train_s, 1),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, path)
    path.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    say(f"classifier: {len(x)} images × {epochs} epochs in {train_s:.0f} s (+{prep_s:.0f} s resize); t10k {acc:.4f}")
    return model, info


# --- cgan train / cgan sample --------------------------------------------------------------------


def train_command(family: str, data: Path, run: Path, args: argparse.Namespace) -> list[str]:
    steps_per_epoch = math.ceil(args.per_class * NUM_CLASSES / args.batch_size)
    epochs = math.ceil(args.steps / steps_per_epoch) + 1  # so that --steps, not the epochs, stops the run
    cmd = [
        sys.executable, "-m", "cgan_cli", "train", family, "--classes", str(data), "--out", str(run),
        "--image-size", str(IMAGE_SIZE), "--steps", str(args.steps), "--epochs", str(epochs),
        "--batch-size", str(args.batch_size), "--ngf", str(args.ngf), "--ndf", str(args.ndf), "--lr", str(args.lr),
        "--loss", args.loss, "--seed", str(args.seed), "--device", args.device, "--workers", str(args.workers),
        "--log-every", str(max(50, args.steps // 20)), "--sample-every", str(max(500, args.steps // 10)),
        "--save-every", str(args.steps), "--keep", "1",
    ]  # fmt: skip
    if args.ema:
        cmd += ["--ema", str(args.ema)]
    if args.spectral_norm:
        cmd += ["--spectral-norm"]
    return cmd + shlex.split(args.train_args)


def loop_rate(run: Path) -> float | None:
    """Median img/s of log.jsonl's intervals (the training loop alone), None without a log."""
    log = run / "log.jsonl"
    if not log.exists():
        return None
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rates = [r["img_per_s"] for r in records if "img_per_s" in r]  # loss records (not the sample figures)
    return round(statistics.median(rates), 1) if rates else None


def run_family(family: str, data: Path, model: Classifier, device: torch.device, args, say) -> dict:
    run, samples = args.work / "runs" / family, args.work / "samples" / family
    for old in (run, samples):  # our own folders under --work: a fresh run every time
        shutil.rmtree(old, ignore_errors=True)
    env = child_env(args.threads)
    cmd = train_command(family, data, run, args)
    say(f"{family}: {display(cmd)}")
    train_s = run_child(cmd, env)
    ckpt = run / "latest.safetensors"
    grid = args.work / f"{family}-grid.png"
    sample_cmd = [
        sys.executable, "-m", "cgan_cli", "sample", str(ckpt), "--class", "all", "-n", str(args.samples),
        "--out", str(samples), "--device", args.device, "--grid", str(grid),
    ]  # fmt: skip
    sample_s = run_child(sample_cmd, env)
    x, y = read_samples(samples)
    acc, per_class = class_accuracy(predict(model, x, device), y, NUM_CLASSES)
    images = args.steps * args.batch_size
    return {
        "family": family,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "train_wall_s": round(train_s, 1),
        "img_s": round(images / train_s, 1),
        "loop_img_s": loop_rate(run),
        "sample_wall_s": round(sample_s, 1),
        "samples_per_class": args.samples,
        "accuracy": round(acc, 4),
        "per_class": dict(zip(FASHION_MNIST_CLASSES, [None if a is None else round(a, 4) for a in per_class])),
        "chance": CHANCE,
        "train_command": display(cmd),
        "sample_command": display(sample_cmd),
        "grid": str(grid),
    }


def summary_line(r: dict, ceiling: float) -> str:
    per = " ".join(f"{k} {v:.2f}" for k, v in r["per_class"].items() if v is not None)
    return (
        f"{r['family']}: {r['steps']} steps in {r['train_wall_s']:.0f} s ({r['img_s']:.0f} img/s, loop "
        f"{r['loop_img_s']} img/s); sample class accuracy {r['accuracy']:.3f} (chance {r['chance']:.2f}, "
        f"classifier on t10k {ceiling:.3f}); per class: {per}"
    )


def run_benchmark(args: argparse.Namespace, name: str, body) -> int:
    """What every Fashion-MNIST benchmark's `main` does around `body(args, say)`: the summary on stdout (stderr
    with --json), a skip (exit 0) without the dataset, --threads for the run only, a CganError as one line."""
    summary = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=summary, flush=True)

    reason = dataset_missing(args.data)
    if reason is not None:
        say(f"benchmarks/{name}.py: skipped: {reason}")
        if args.json:
            print(json.dumps({"benchmark": name, "skipped": reason}), flush=True)
        return 0
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        body(args, say)
    except CganError as exc:  # e.g. a --device this machine lacks
        print(f"{name}.py: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    finally:  # callers in the same process (tests) keep their own setting
        torch.set_num_threads(threads_before)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(parse_args(argv), "fashion_mnist", _run)


def _run(args: argparse.Namespace, say) -> list[dict]:
    """Every family's result, printed as it comes."""
    device = resolve_device(args.device)
    load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data, written = class_folders(args.data, args.work, args.per_class)
    say(f"data: {data} ({args.per_class} per class; {written} files written in {time.perf_counter() - t0:.0f} s)")
    model, clf = judge(args.data, args.work, args.clf_epochs, args.clf_limit, device, say)

    families = FAMILIES if args.family == "both" else (args.family,)
    results = []
    for family in families:
        r = run_family(family, data, model, device, args, say)
        r.update(
            benchmark="fashion_mnist",
            classifier_t10k_accuracy=clf["t10k_accuracy"],
            classifier_train_images=clf["train_images"],
            classifier_epochs=clf["epochs"],
            settings={
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k not in ("json", "family", "data", "work")
            },
            device=str(device),
            torch=torch.__version__,
            threads=torch.get_num_threads(),
            loadavg_1min_before=load_before,
            loadavg_1min_after=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        )
        say(summary_line(r, clf["t10k_accuracy"]))
        if args.json:
            print(json.dumps(r), flush=True)
        results.append(r)
    return results


if __name__ == "__main__":
    sys.exit(main())
