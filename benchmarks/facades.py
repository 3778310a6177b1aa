"""Label map → photo on CMP Facades: pix2pix against SPADE, and BicycleGAN's many outputs per input.

The data: ../shared/data/facades-train (400 pix2pix-aligned 512×256 JPEGs, photo left, colour-coded label
map right). The last `--held-out` files (by name) are held out; the rest train every family for the same
`--steps` at `--size`² through the real CLI (fresh processes):

    pix2pix      cgan train pix2pix --paired TRAIN --direction BtoA --net-g unet_SIZE --load-size 1.125·SIZE …
    spade        cgan train spade --paired TRAIN --label-side B --palette auto …
    bicyclegan   cgan train bicyclegan --paired TRAIN --direction BtoA …

Each model translates the held-out label maps (`cgan translate CKPT TEST --aligned --size SIZE`, and for
bicyclegan `--seeds 0-4`), and the outputs are scored against the held-out photos (the left halves, resized
to SIZE² with Pillow's bicubic) by `cgan eval --fid --kid` (KID with subsets as large as the held-out set:
FID from 50 images is biased far upwards; compare rows, not papers). `diversity` is the mean L1 (in [0, 1]
pixel units) between the outputs of different seeds for the same input, averaged over inputs: 0 for a
model with one answer per input (pix2pix translates twice identically: dropout is off at test time).

    python benchmarks/facades.py                                   # pix2pix, spade, bicyclegan (those registered)
    python benchmarks/facades.py --families pix2pix --steps 500 --json
    python benchmarks/facades.py --quick                           # 64², 20 steps, tiny nets: a smoke run

A family this cgan does not have is skipped with a note; without the data the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, child_env, display, run_child  # noqa: E402

from cgan_cli.families import FAMILIES  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "facades-train"
FAMILY_ORDER = ("pix2pix", "spade", "bicyclegan")
SEEDS = "0-4"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train pix2pix, SPADE and BicycleGAN on facades label maps → photos for the same steps; FID/KID "
        "of the held-out translations and the diversity of BicycleGAN's outputs per input.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--families", default=",".join(FAMILY_ORDER), help="Families to train, comma-separated.")
    p.add_argument("--steps", type=int, default=2000, help="Training steps of every family.")
    p.add_argument("--bicyclegan-steps", type=int, default=0, help="BicycleGAN's steps, if not --steps (it is slower).")
    p.add_argument("--size", type=int, default=128, help="Training crop and translation side (64, 128 or 256).")
    p.add_argument("--held-out", type=int, default=50, help="Files held out for scoring (the last by name).")
    p.add_argument("--ngf", type=int, default=64, help="Generator width (every family).")
    p.add_argument("--ndf", type=int, default=64, help="Discriminator width (every family).")
    p.add_argument("--vgg-weights", type=Path, help="SPADE's VGG19 weights (torchvision's .pth); without them SPADE "
                   "trains with --no-vgg (no perceptual loss).")
    p.add_argument("--seed", type=int, default=0, help="Training seed.")
    p.add_argument("--threads", type=int, default=1, help="Torch threads in the children (0: torch's default).")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N.")
    p.add_argument("--data", type=Path, default=DATA, help="A pix2pix-aligned facades folder.")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-facades", help="Run folder.")
    p.add_argument("--quick", action="store_true", help="64², 20 steps, widths 8, 8 held out.")
    p.add_argument("--json", action="store_true", help="One JSON line per family on stdout.")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.steps, args.ngf, args.ndf, args.held_out = 64, 20, 8, 8, 8
    if args.size not in (32, 64, 128, 256):
        p.error("--size must be 32, 64, 128 or 256")
    for name in ("steps", "held_out", "ngf", "ndf"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.work = args.work.resolve()
    return args


def split(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """WORK/data/train (links to all but the held-out files), WORK/data/test (the held-out A|B files) and
    WORK/data/test-photos (their photo halves at SIZE², the real side of FID)."""
    files = sorted(args.data.glob("*.jpg"), key=lambda f: (len(f.stem), f.stem))
    if len(files) <= args.held_out:
        raise SystemExit(f"facades.py: {args.data} has {len(files)} files, not more than --held-out {args.held_out}")
    root = args.work / "data"
    shutil.rmtree(root, ignore_errors=True)
    train, test, photos = root / "train", root / "test", root / "test-photos"
    for folder in (train, test, photos):
        folder.mkdir(parents=True)
    for f in files[: -args.held_out]:
        (train / f.name).symlink_to(f.resolve())
    for f in files[-args.held_out :]:
        (test / f.name).symlink_to(f.resolve())
        with Image.open(f) as img:
            img = img.convert("RGB")
            half = img.crop((0, 0, img.width // 2, img.height))
            half.resize((args.size, args.size), Image.BICUBIC).save(photos / f"{f.stem}.png")
    return train, test, photos


def train_args(family: str, train: Path, args: argparse.Namespace) -> list[str]:
    size = str(args.size)
    if family == "pix2pix":
        return ["--paired", str(train), "--direction", "BtoA", "--net-g", f"unet_{size}",
                "--load-size", str(args.size * 9 // 8), "--crop-size", size]  # fmt: skip
    if family == "spade":
        vgg = ["--vgg-weights", str(args.vgg_weights)] if args.vgg_weights else ["--no-vgg"]
        return ["--paired", str(train), "--label-side", "B", "--palette", "auto", "--load-size",
                str(args.size * 9 // 8), "--crop-size", size, *vgg]  # fmt: skip
    small = "128" if args.size <= 128 else "256"  # BicycleGAN's encoder and discriminators come in two sizes
    return ["--paired", str(train), "--direction", "BtoA", "--net-g", f"unet_{size}", "--net-e", f"resnet_{small}",
            "--net-d", f"basic_{small}_multi", "--net-d2", f"basic_{small}_multi", "--nef", str(args.ngf),
            "--load-size", str(args.size * 9 // 8), "--crop-size", size]  # fmt: skip


def score(out: Path, photos: Path, args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    """FID and KID of a folder of translations (any depth) against the held-out photos."""
    cmd = [sys.executable, "-m", "cgan_cli", "eval", str(photos), str(out), "--fid", "--kid", "--json",
           "--kid-subset-size", str(args.held_out), "--device", args.device]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True)
    record = json.loads(proc.stdout.splitlines()[-1])
    return {k: record[k] for k in ("fid", "kid_mean", "kid_std") if k in record}


def diversity(folder: Path) -> float:
    """Mean L1 between the outputs of different seeds for the same input (`folder/NAME/*.png`)."""
    scores = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        images = [np.asarray(Image.open(f).convert("RGB"), np.float32) / 255 for f in sorted(sub.glob("*.png"))]
        pairs = [np.abs(a - b).mean() for a, b in itertools.combinations(images, 2)]
        if pairs:
            scores.append(float(np.mean(pairs)))
    return round(float(np.mean(scores)), 4) if scores else 0.0


def run_family(family: str, train: Path, test: Path, photos: Path, args, say) -> dict:
    run, out = args.work / "runs" / family, args.work / "out" / family
    for old in (run, out):
        shutil.rmtree(old, ignore_errors=True)
    env = child_env(args.threads)
    steps = args.bicyclegan_steps if family == "bicyclegan" and args.bicyclegan_steps else args.steps
    cmd = [sys.executable, "-m", "cgan_cli", "train", family, "--out", str(run), *train_args(family, train, args),
           "--steps", str(steps), "--epochs", str(steps), "--ngf", str(args.ngf), "--ndf", str(args.ndf),
           "--seed", str(args.seed), "--device", args.device, "--log-every", str(max(50, steps // 20)),
           "--save-every", str(steps), "--keep", "1"]  # fmt: skip
    say(f"{family}: {display(cmd)}")
    train_s = run_child(cmd, env)
    ckpt = run / "latest.safetensors"
    translate = [sys.executable, "-m", "cgan_cli", "translate", str(ckpt), str(test), "--aligned", "--size",
                 str(args.size), "--device", args.device]  # fmt: skip
    row = {"benchmark": "facades", "family": family, "steps": steps, "size": args.size,
           "train_wall_s": round(train_s, 1), "train_command": display(cmd)}  # fmt: skip
    if family == "bicyclegan":
        run_child([*translate, "--seeds", SEEDS, "--out", str(out)], env)
        row["diversity"] = diversity(out)
    else:
        run_child([*translate, "--out", str(out / "a")], env)
        run_child([*translate, "--out", str(out / "b")], env)
        pairs = [np.abs(np.asarray(Image.open(a), np.float32) - np.asarray(Image.open(out / "b" / a.name), np.float32))
                 .mean() / 255 for a in sorted((out / "a").glob("*.png"))]  # fmt: skip
        row["diversity"] = round(float(np.mean(pairs)), 4)  # the same input twice
        shutil.rmtree(out / "b")
    row.update(score(out, photos, args, env))
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=summary, flush=True)

    if not args.data.is_dir():
        say(f"benchmarks/facades.py: skipped: {args.data} is absent")
        if args.json:
            print(json.dumps({"benchmark": "facades", "skipped": f"{args.data} is absent"}), flush=True)
        return 0
    train, test, photos = split(args)
    rows, t0 = [], time.perf_counter()
    for family in args.families.split(","):
        if family not in FAMILIES:
            say(f"{family}: skipped (this cgan has no such family)")
            continue
        row = run_family(family, train, test, photos, args, say)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    say(f"\n{'family':<12} {'FID':>7} {'KID ×100':>9} {'diversity':>9} {'train s':>8}")
    for r in rows:
        kid = 100 * r.get("kid_mean", float("nan"))
        say(f"{r['family']:<12} {r.get('fid', float('nan')):>7.1f} {kid:>9.2f} {r['diversity']:>9.4f} "
            f"{r['train_wall_s']:>8.0f}")  # fmt: skip
    say(f"({args.held_out} held-out facades at {args.size}²; {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
