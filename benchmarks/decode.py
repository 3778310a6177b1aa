"""JPEG file → uint8 tensor, images/s: `read_image` (Pillow, the reference's decoder; what training and eval
use) vs `cgan translate`'s `jpeg.read_tensor` with torchvision's libjpeg-turbo on the CPU and, on CUDA,
with nvJPEG, on the same files, one thread. Both sides include everything they do per file (header
checks, EXIF, the copy into a tensor).

Ratio = decoder img/s ÷ Pillow img/s. Each decoder's pixels are compared with Pillow's: torchvision's CPU
decoder must match exactly (the script exits 1 otherwise); nvJPEG's largest difference is reported.
The files are photo-like JPEGs (smooth random colour plus mild noise, 4:2:0, quality 90) of each `--size`.

    python benchmarks/decode.py                       # 256² and 1024², 64 files each
    python benchmarks/decode.py --size 512,2048 --json
    python benchmarks/decode.py --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import add_common_options, setup
from PIL import Image

from cgan_cli.data import jpeg
from cgan_cli.data.io import image_to_uint8_tensor, read_image


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="JPEG decode img/s: Pillow vs torchvision (CPU) and nvJPEG (CUDA). Ratio = decoder / Pillow.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size", default="256,1024", help="Square image sides, e.g. 256,1024.")
    p.add_argument("--n", type=int, default=64, help="Files per size.")
    p.add_argument("--rounds", type=int, default=3, help="Timed passes per decoder, alternated.")
    p.add_argument("--quick", action="store_true", help="Smoke run: 16 files of 128², 2 rounds.")
    add_common_options(p, "passes")
    if p.parse_known_args(argv)[0].quick:
        p.set_defaults(size="128", n=16, rounds=2)
    return p.parse_args(argv)


def photo(rng: np.random.Generator, side: int) -> Image.Image:
    coarse = rng.integers(0, 256, (max(2, side // 16), max(2, side // 16), 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC), np.int16)
    return Image.fromarray(np.clip(smooth + rng.integers(-12, 13, smooth.shape), 0, 255).astype(np.uint8))


def pillow(path: Path) -> np.ndarray:
    return np.asarray(read_image(path))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dev = setup(args)
    summary = sys.stderr if args.json else sys.stdout
    cpu = torch.device("cpu")
    decoders = {
        "pillow": lambda p: image_to_uint8_tensor(read_image(p)).permute(1, 2, 0).numpy(),
        "torchvision": lambda p: jpeg.read_tensor(p, 3, cpu).permute(1, 2, 0).numpy(),
    }
    if dev.type == "cuda":
        decoders["nvjpeg"] = lambda p: jpeg.read_tensor(p, 3, dev)
    print(f"{'size':>6} {'decoder':>12} {'img/s':>9} {'vs pillow':>10} {'max |diff|':>11}", file=summary)
    with tempfile.TemporaryDirectory(prefix="cgan-bench-decode-") as tmp:
        for side in [int(s) for s in args.size.split(",")]:
            rng = np.random.default_rng(side)
            paths = []
            for i in range(args.n):
                paths.append(Path(tmp) / f"{side}-{i}.jpg")
                photo(rng, side).save(paths[-1], quality=90)
            diffs = {}
            for name, decode in decoders.items():
                got = [decode(p) for p in paths]  # warm-up, and the pixels to compare
                if name == "nvjpeg":
                    torch.cuda.synchronize(dev)
                    got = [g.permute(1, 2, 0).cpu().numpy() for g in got]
                diffs[name] = max(int(np.abs(g.astype(int) - pillow(p).astype(int)).max()) for g, p in zip(got, paths))
            if diffs["torchvision"] != 0:
                print(f"torchvision's pixels differ from Pillow's by {diffs['torchvision']}", file=sys.stderr)
                return 1
            rates: dict[str, list[float]] = {name: [] for name in decoders}
            for r in range(args.rounds):
                for name in decoders if r % 2 == 0 else reversed(decoders):
                    t = time.perf_counter()
                    for p in paths:
                        decoders[name](p)
                    if name == "nvjpeg":
                        torch.cuda.synchronize(dev)
                    rates[name].append(len(paths) / (time.perf_counter() - t))
            combine = statistics.median if args.stat == "median" else max
            base = combine(rates["pillow"])
            for name in decoders:
                rate = combine(rates[name])
                row = {"benchmark": "decode", "device": str(dev), "size": side, "n": args.n, "decoder": name}
                row.update(img_s=round(rate, 2), ratio=round(rate / base, 4), max_abs_diff=diffs[name])
                if args.json:
                    print(json.dumps(row), flush=True)
                print(f"{side:>6} {name:>12} {rate:>9.1f} {rate / base:>10.3f} {diffs[name]:>11}", file=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
