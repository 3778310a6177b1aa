"""The classic GAN training tricks on one small cGAN: which help on Fashion-MNIST at 32×32?

Each configuration trains the same `cgan train cgan` run (the same data, seed, widths, batch and number
of steps, through the real CLI in a fresh process), adding one option:

    none                   (the defaults: non-saturating loss, Adam 2e-4 (0.5, 0.999))
    feature-matching       --feature-matching 1            (Salimans et al. 2016, added to G's loss)
    minibatch-disc         --minibatch-disc 100            (Salimans et al. 2016: 100 kernels × 5)
    minibatch-stddev       --minibatch-stddev 4            (Karras et al. 2018)
    historical-averaging   --historical-averaging 0.001    (Salimans et al. 2016)
    wgan                   --loss wgan                     (Arjovsky et al. 2017: RMSprop 5e-5, n_critic 5, clip .01)
    unrolled               --unrolled 5                    (Metz et al. 2017)
    r3gan                  --loss r3gan                    (Huang et al. 2024: RpGAN + R1 + R2, γ 0.05, Adam (0, 0.99))

Then `cgan sample RUN/latest.safetensors --class all -n N` and two judges: the sample class accuracy of
benchmarks/fashion_mnist.py's CNN (trained on all 60,000 real train images; its t10k accuracy is the ceiling),
and our FID (`cgan eval --fid`) against the first `--fid-real` images of the t10k split, made 32×32 exactly
as training images are (bicubic resize, grey) and cached as statistics under `--work`. FID from 1,000
samples is biased upwards (more samples lower it), so compare rows, not papers.

    python benchmarks/tricks.py                          # every configuration (about an hour on 2 CPU cores)
    python benchmarks/tricks.py --only none,r3gan --steps 500 --json
    python benchmarks/tricks.py --quick                  # 2 configurations, 30 steps, tiny nets: a smoke run

Without the dataset the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fashion_mnist as fm  # noqa: E402  (the data, the judging CNN and the CLI runner are shared)

from cgan_cli.data.idx import read_fashion_mnist  # noqa: E402
from cgan_cli.data.io import save_image  # noqa: E402
from cgan_cli.device import resolve_device  # noqa: E402

CONFIGURATIONS = {
    "none": [],
    "feature-matching": ["--feature-matching", "1"],
    "minibatch-disc": ["--minibatch-disc", "100"],
    "minibatch-stddev": ["--minibatch-stddev", "4"],
    "historical-averaging": ["--historical-averaging", "0.001"],
    "wgan": ["--loss", "wgan"],
    "unrolled": ["--unrolled", "5"],
    "r3gan": ["--loss", "r3gan"],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train the same small cGAN on Fashion-MNIST (32×32) with each training trick and compare "
        "FID against the t10k split and the samples' class accuracy, in one table.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--only", default=",".join(CONFIGURATIONS), help="Configurations to run, comma-separated.")
    p.add_argument("--steps", type=int, default=1500, help="Training steps of every configuration.")
    p.add_argument("--batch-size", type=int, default=64, help="Images per step.")
    p.add_argument("--ngf", type=int, default=32, help="Generator width.")
    p.add_argument("--ndf", type=int, default=32, help="Discriminator width.")
    p.add_argument("--per-class", type=int, default=1000, help="Training images per class.")
    p.add_argument("-n", "--samples", type=int, default=100, help="Samples per class (judged and in the FID).")
    p.add_argument("--fid-real", type=int, default=2000, help="t10k images for the real FID statistics.")
    p.add_argument("--clf-epochs", type=int, default=2, help="Epochs of the judging CNN.")
    p.add_argument("--seed", type=int, default=0, help="Training seed.")
    p.add_argument("--threads", type=int, default=1, help="Torch threads here and in the children (0: default).")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N.")
    p.add_argument("--work", type=Path, default=fm.ROOT / "runs" / "bench-tricks", help="Cache and run folder.")
    p.add_argument("--data", type=Path, default=fm.FASHION_MNIST_DIR, help="Folder of the Fashion-MNIST idx files.")
    p.add_argument("--quick", action="store_true", help="none and feature-matching, 30 steps, widths 8, 20/class.")
    p.add_argument("--json", action="store_true", help="One JSON line per configuration on stdout.")
    args = p.parse_args(argv)
    if args.quick:
        args.only, args.steps, args.ngf, args.ndf = "none,feature-matching", 30, 8, 8
        args.per_class, args.samples, args.fid_real, args.clf_epochs = 20, 10, 100, 1
    unknown = [c for c in args.only.split(",") if c not in CONFIGURATIONS]
    if unknown:
        p.error(f"--only: unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(CONFIGURATIONS)}")
    for name in ("steps", "batch_size", "ngf", "ndf", "per_class", "samples", "fid_real", "clf_epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.work = args.work.resolve()
    # what fashion_mnist.train_command reads
    args.lr, args.loss, args.ema, args.spectral_norm, args.workers = 2e-4, "nonsat", 0.0, False, 1
    return args


def real_statistics(args: argparse.Namespace, env: dict[str, str], say) -> Path:
    """FID statistics of the first --fid-real t10k images at 32×32 (cached under WORK/fid)."""
    stats = args.work / "fid" / f"t10k-{args.fid_real}.safetensors"
    if stats.exists():
        return stats
    folder = args.work / "fid" / f"t10k-{args.fid_real}"
    shutil.rmtree(folder, ignore_errors=True)
    images, _ = read_fashion_mnist("t10k", args.data)
    for i, image in enumerate(fm.to_model_input(images[: args.fid_real])):
        save_image(image, folder / f"{i:05d}.png")
    cmd = [sys.executable, "-m", "cgan_cli", "eval", str(folder), "--save-stats", str(stats),
           "--device", args.device]  # fmt: skip
    seconds = fm.run_child(cmd, env)
    say(f"real FID statistics: {args.fid_real} t10k images in {seconds:.0f} s → {stats}")
    return stats


def fid(stats: Path, samples: Path, args: argparse.Namespace, env: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "cgan_cli", "eval", str(stats), str(samples), "--fid", "--json", "--device",
           args.device]  # fmt: skip
    proc = subprocess.run(cmd, cwd=fm.ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True)
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "fid" in record:
            return float(record["fid"])
        if record.get("metric") == "fid":
            return float(record["value"])
    raise SystemExit(f"tricks.py: no FID in {proc.stdout!r}")


def run_configuration(name: str, data: Path, model, stats: Path, device: torch.device, args, say) -> dict:
    args.train_args = shlex.join(CONFIGURATIONS[name])
    run, samples = args.work / "runs" / name, args.work / "samples" / name
    for old in (run, samples):
        shutil.rmtree(old, ignore_errors=True)
    env = fm.child_env(args.threads)
    cmd = fm.train_command("cgan", data, run, args)
    say(f"{name}: {fm.display(cmd)}")
    train_s = fm.run_child(cmd, env)
    grid = args.work / f"{name}-grid.png"
    fm.run_child([sys.executable, "-m", "cgan_cli", "sample", str(run / "latest.safetensors"), "--class", "all",
                  "-n", str(args.samples), "--out", str(samples), "--device", args.device, "--grid", str(grid)],
                 env)  # fmt: skip
    x, y = fm.read_samples(samples)
    acc, per_class = fm.class_accuracy(fm.predict(model, x, device), y, fm.NUM_CLASSES)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    diversity = [r["diversity"] for r in log if "diversity" in r]
    return {
        "benchmark": "tricks",
        "configuration": name,
        "options": CONFIGURATIONS[name],
        "steps": args.steps,
        "train_wall_s": round(train_s, 1),
        "fid": round(fid(stats, samples, args, env), 2),
        "fid_real_images": args.fid_real,
        "fid_fake_images": len(x),
        "accuracy": round(acc, 4),
        "lowest_classes": sorted(
            ((k, round(v, 2)) for k, v in zip(fm.FASHION_MNIST_CLASSES, per_class) if v is not None),
            key=lambda kv: kv[1],
        )[:3],
        "diversity_last": diversity[-1] if diversity else None,
        "train_command": fm.display(cmd),
        "grid": str(grid),
    }


def main(argv: list[str] | None = None) -> int:
    return fm.run_benchmark(parse_args(argv), "tricks", run)


def run(args: argparse.Namespace, say) -> list[dict]:
    """Every configuration's row, printed as it comes, then the table."""
    device = resolve_device(args.device)
    args.work.mkdir(parents=True, exist_ok=True)
    data, _ = fm.class_folders(args.data, args.work, args.per_class)
    model, clf = fm.judge(args.data, args.work, args.clf_epochs, 0 if not args.quick else 2000, device, say)
    stats = real_statistics(args, fm.child_env(args.threads), say)
    rows = []
    t0 = time.perf_counter()
    for name in args.only.split(","):
        r = run_configuration(name, data, model, stats, device, args, say)
        r["classifier_t10k_accuracy"] = clf["t10k_accuracy"]
        rows.append(r)
        say(f"{name}: FID {r['fid']:.1f}, class accuracy {r['accuracy']:.3f}, {r['train_wall_s']:.0f} s")
        if args.json:
            print(json.dumps(r), flush=True)
    say(f"\n{'configuration':<22} {'FID':>7} {'class acc':>9} {'diversity':>9} {'train s':>8}")
    for r in rows:
        div = "" if r["diversity_last"] is None else f"{r['diversity_last']:.3f}"
        say(f"{r['configuration']:<22} {r['fid']:>7.1f} {r['accuracy']:>9.3f} {div:>9} {r['train_wall_s']:>8.0f}")
    say(f"(classifier ceiling on t10k {clf['t10k_accuracy']:.3f}; chance 0.10; {time.perf_counter() - t0:.0f} s)")
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
