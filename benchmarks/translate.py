"""`cgan translate` throughput end to end (a folder of JPEGs → a folder of PNGs) versus the generator alone.

What runs: a pix2pix checkpoint is built in a temp folder (randomly initialised generator of `--net-g`,
saved by `cgan_cli.trainer.Trainer.save`, exactly the file `cgan train` writes) and `--n` JPEGs of
`--size`² with random, smooth, photo-like content are written beside it. The end-to-end pass then does
what `cgan translate CKPT IN --out OUT` does after loading the checkpoint, in this process:
`expand_inputs` → `plan_outputs` → `TranslationRun(...).run(jobs)` (parallel JPEG decode, batched
forward, parallel PNG encode with atomic, fsynced writes), consumed to the last result. The model-only
pass runs the same generator, the same way `TranslationRun._forward` does (inference_mode, bf16
autocast on CUDA, channels_last where `cgan translate` picks it), on pre-made tensors already on the
device, in the same batches.

Ratio = end-to-end img/s / model-only img/s: 1.0 means the pipeline keeps the model fully busy (I/O is
hidden); 0.5 means half the wall time goes to decoding, encoding, writing and copies that do not
overlap the model.

Against the reference: the script also restates the reference's `test.py` loop (junyanz/pytorch-CycleGAN-
and-pix2pix: `num_threads = 0`, `batch_size = 1`; per image Pillow open + convert RGB, `ToTensor` +
`Normalize(0.5, 0.5)`, `netG` forward, `util.tensor2im`, `util.save_image` as PNG), one image after
another, on the same generator and device in fp32. `vs_reference` = our end-to-end img/s ÷ the
reference loop's img/s: the whole `cgan translate` speed-up a user sees over the reference's script.

For context the script also measures, on one thread, JPEG decode+to_tensor and
PNG encode+write of the outputs (`save_image`, with its fsync) and PNG encode to memory alone. Checkpoint loading
(once per command) is reported separately as `setup_s` and is not part of either rate.

`--repeats` alternates model-only and end-to-end passes (after one warm-up of each) and reports medians
(`--stat max`: the best pass, for CPUs shared with other jobs; every pass is in the JSON).

    python benchmarks/translate.py                       # 64 images of 256², batch 8, unet_256
    python benchmarks/translate.py --n 32 --json
    python benchmarks/translate.py --quick               # 8 images of 64², unet_64 (smoke run)
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import add_common_options, setup
from PIL import Image
from torchvision import transforms

from cgan_cli.checkpoint import load_checkpoint, read_metadata
from cgan_cli.cli.common import default_threads
from cgan_cli.config.choices import UNET_SIZES
from cgan_cli.data.inputs import expand_inputs
from cgan_cli.data.io import read_image, save_image, tensor_to_image, to_tensor
from cgan_cli.device import autocast, uses_bf16
from cgan_cli.families import TranslateOptions, create, family_class
from cgan_cli.families.pix2pix import Pix2PixConfig
from cgan_cli.trainer import Trainer
from cgan_cli.translation import TranslationRun, pad_to_multiple, plan_outputs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="cgan translate images/s end to end (JPEG folder → PNG folder) vs the generator forward alone. "
        "Ratio = end-to-end / model-only; 1.0 means I/O is fully hidden behind the model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--n", type=int, default=64, help="Number of input JPEGs.")
    p.add_argument("--size", type=int, default=256, help="Side of the square input images.")
    p.add_argument("--batch-size", type=int, default=8, help="Images per forward pass (cgan translate -b).")
    p.add_argument("--net-g", default="unet_256", choices=tuple(UNET_SIZES), help="Generator.")
    p.add_argument("--workers", type=int, default=default_threads(), help="Decode/encode threads (--workers).")
    p.add_argument("--repeats", type=int, default=3, help="Timed passes of each, alternated; combined by --stat.")
    p.add_argument(
        "--tmp", default=None, help="Parent folder for the temp checkpoint and images (None: the system temp folder)."
    )
    p.add_argument(
        "--quick", action="store_true", help="Smoke run: defaults become 8 images of 64², unet_64, batch 4, 3 repeats."
    )
    add_common_options(p, "passes")
    if p.parse_known_args(argv)[0].quick:  # quick changes the defaults; options given explicitly still win
        p.set_defaults(n=8, size=64, net_g="unet_64", batch_size=4, repeats=3)
    args = p.parse_args(argv)
    for name in ("n", "size", "batch_size", "workers", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def smooth_random_image(rng: np.random.Generator, size: int, channels: int = 3) -> Image.Image:
    """Low-frequency random colour field plus mild noise: compresses and decodes like a photo, not like static."""
    coarse = rng.integers(0, 256, size=(max(2, size // 16), max(2, size // 16), channels), dtype=np.uint8)
    img = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, size=(size, size, channels), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_checkpoint(root: Path, net_g: str, size: int) -> Path:
    """A pix2pix checkpoint as `cgan train` writes it, trained for 0 steps on a tiny aligned dataset."""
    data = root / "paired" / "train"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    side = max(32, min(size, 64))
    for i in range(2):
        pair = Image.new("RGB", (2 * side, side))
        pair.paste(smooth_random_image(rng, side), (0, 0))
        pair.paste(smooth_random_image(rng, side), (side, 0))
        pair.save(data / f"{i}.jpg", quality=95)
    multiple = 2 ** UNET_SIZES[net_g]
    crop = multiple * max(1, math.ceil(256 / multiple))
    cfg = Pix2PixConfig(paired=str(root / "paired"), net_g=net_g, load_size=crop + 30, crop_size=crop)
    torch.manual_seed(0)
    family = create("pix2pix", cfg, torch.device("cpu"))
    return Trainer(family, root / "run").save()


def write_inputs(folder: Path, n: int, size: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        smooth_random_image(rng, size).save(folder / f"img_{i:05d}.jpg", quality=90)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dev = setup(args)
    load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    cuda = dev.type == "cuda"
    summary = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=summary, flush=True)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    with tempfile.TemporaryDirectory(prefix="cgan-bench-translate-", dir=args.tmp) as tmp:
        root = Path(tmp)
        ckpt_path = make_checkpoint(root, args.net_g, args.size)
        in_dir = root / "in"
        write_inputs(in_dir, args.n, args.size)

        # --- what `cgan translate` does once per command (not part of either rate)
        t0 = time.perf_counter()
        meta = read_metadata(ckpt_path)
        cls = family_class(meta.get("family", "?"), ckpt_path)
        ckpt = load_checkpoint(ckpt_path, groups=cls.inference_groups())
        translator = cls.translator(ckpt, dev, TranslateOptions())
        reference_net = copy.deepcopy(translator.net)  # the reference's layout: contiguous, whatever ours picks
        fmt = TranslationRun(translator, dev).memory_format  # also puts the net in that layout, as translate does
        torch.manual_seed(0)
        setup_s = time.perf_counter() - t0

        # --- model only: the generator on pre-made device tensors, batched as the pipeline batches
        full, rest = divmod(args.n, args.batch_size)
        sizes = [args.batch_size] * full + ([rest] if rest else [])
        gen = torch.Generator().manual_seed(2)
        premade = {
            b: pad_to_multiple(
                (torch.rand(b, translator.in_channels, args.size, args.size, generator=gen) * 2 - 1).to(dev),
                translator.multiple,
            ).contiguous(memory_format=fmt)
            for b in set(sizes)
        }

        @torch.inference_mode()
        def model_only() -> float:
            sync()
            t = time.perf_counter()
            for b in sizes:
                with autocast(dev):
                    translator.net(premade[b])
            sync()
            return args.n / (time.perf_counter() - t)

        # --- end to end: expand_inputs → plan_outputs → TranslationRun.run, as cgan_cli/cli/translate.py
        def end_to_end(out_dir: Path, limit: int | None = None) -> float:
            t = time.perf_counter()
            items, problems = expand_inputs([str(in_dir)])
            items = items[:limit] if limit else items
            jobs = plan_outputs(items, out_dir, "png")
            runner = TranslationRun(translator, dev, batch_size=args.batch_size, workers=args.workers, gpu_decode=cuda)
            results = list(runner.run(jobs))
            elapsed = time.perf_counter() - t
            bad = [r.error for r in results if r.error] + problems
            if bad or len(results) != len(items):
                raise SystemExit(f"translation failed: {bad[:3]}")
            return len(items) / elapsed

        # --- the reference's test.py: one image at a time, fp32, decode → forward → tensor2im → PNG, no overlap
        to_reference_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

        @torch.no_grad()
        def reference_loop(out_dir: Path) -> float:
            out_dir.mkdir(parents=True, exist_ok=True)
            paths = sorted(in_dir.glob("*.jpg"))
            t = time.perf_counter()
            for p in paths:
                x = to_reference_tensor(Image.open(p).convert("RGB")).unsqueeze(0).to(dev)
                y = reference_net(x)
                arr = (np.transpose(y[0].cpu().float().numpy(), (1, 2, 0)) + 1) / 2.0 * 255.0  # util.tensor2im
                Image.fromarray(arr.astype(np.uint8)).save(out_dir / (p.stem + ".png"))  # util.save_image
            sync()
            return len(paths) / (time.perf_counter() - t)

        model_only()  # warm-up (cuDNN autotuning, allocator)
        end_to_end(root / "out-warmup", limit=min(args.n, 2 * args.batch_size))
        e2e_rates, model_rates, ref_rates = [], [], []
        for r in range(args.repeats):
            order = [
                lambda r=r: model_rates.append(model_only()),
                lambda r=r: e2e_rates.append(end_to_end(root / f"out-{r}")),
                lambda r=r: ref_rates.append(reference_loop(root / f"ref-{r}")),
            ]
            for run in order if r % 2 == 0 else order[::-1]:
                run()
        out_files = sorted((root / "out-0").glob("*.png"))
        if len(out_files) != args.n:
            raise SystemExit(f"expected {args.n} PNGs, found {len(out_files)}")
        # same math: the reference's outputs differ from ours by its truncation (tensor2im) vs our rounding;
        # not comparable where our side runs bf16 (CUDA, CPUs with bf16 units) and the reference fp32
        ref_diff = (
            None
            if uses_bf16(dev)
            else max(
                int(
                    np.abs(
                        np.asarray(Image.open(f), np.int16) - np.asarray(Image.open(root / "ref-0" / f.name), np.int16)
                    ).max()
                )
                for f in out_files
            )
        )

        # --- one-thread breakdown of the pipeline's CPU work, for reading the ratio
        paths = sorted(in_dir.glob("*.jpg"))
        t = time.perf_counter()
        for p in paths:
            to_tensor(read_image(p, translator.in_channels))
        decode_rate = len(paths) / (time.perf_counter() - t)
        outputs = [to_tensor(read_image(p, translator.out_channels)) for p in out_files]  # what was encoded
        scratch = root / "encode-scratch"
        t = time.perf_counter()
        for i, y in enumerate(outputs):
            save_image(y, scratch / f"{i}.png")
        encode_rate = len(outputs) / (time.perf_counter() - t)
        t = time.perf_counter()
        for y in outputs:
            tensor_to_image(y).save(io.BytesIO(), format="PNG")
        encode_mem_rate = len(outputs) / (time.perf_counter() - t)
        output_kb = statistics.mean(p.stat().st_size for p in out_files) / 1024
        input_kb = statistics.mean(p.stat().st_size for p in paths) / 1024

    combine = statistics.median if args.stat == "median" else max
    e2e, model, ref = combine(e2e_rates), combine(model_rates), combine(ref_rates)
    result = {
        "benchmark": "translate",
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "loadavg_1min_before": load_before,
        "n": args.n,
        "size": args.size,
        "batch_size": args.batch_size,
        "net_g": args.net_g,
        "workers": args.workers,
        "repeats": args.repeats,
        "stat": args.stat,
        "model_path": ("bf16 autocast" if uses_bf16(dev) else "fp32") + f", {str(fmt).split('.')[-1]}",
        "end_to_end_img_s": round(e2e, 4),
        "model_only_img_s": round(model, 4),
        "ratio": round(e2e / model, 4),
        "reference_img_s": round(ref, 4),
        "vs_reference": round(e2e / ref, 4),
        "reference_max_pixel_diff": ref_diff,
        "reference_img_s_runs": [round(v, 4) for v in ref_rates],
        "end_to_end_img_s_runs": [round(v, 4) for v in e2e_rates],
        "model_only_img_s_runs": [round(v, 4) for v in model_rates],
        "setup_s": round(setup_s, 4),
        "decode_img_s_1thread": round(decode_rate, 2),
        "png_write_img_s_1thread": round(encode_rate, 2),
        "png_encode_in_memory_img_s_1thread": round(encode_mem_rate, 2),
        "input_jpeg_kb": round(input_kb, 1),
        "output_png_kb": round(output_kb, 1),
    }
    if args.json:
        print(json.dumps(result), flush=True)
    name = torch.cuda.get_device_name(dev) if cuda else f"{torch.get_num_threads()} threads"
    say(
        f"cgan translate: {args.n} JPEGs of {args.size}² → PNG, {args.net_g}, batch {args.batch_size}, "
        f"{args.workers} workers, on {dev} ({name}), torch {torch.__version__}"
    )
    if not cuda and load_before is not None and load_before > 0.5 * (os.cpu_count() or 1):
        say(f"  note: 1-minute load average was {load_before} before the run: other work shares these CPUs")
    say(f"  checkpoint load + translator setup: {setup_s:.3f} s (once per command; in neither rate)")
    say(
        f"  one thread: JPEG decode {decode_rate:.1f} img/s, PNG encode+atomic write {encode_rate:.1f} img/s "
        f"(in memory {encode_mem_rate:.1f} img/s); inputs {input_kb:.1f} KB, outputs {output_kb:.1f} KB"
    )
    say()
    header = ("end-to-end img/s", 17), ("model-only img/s", 17), ("e2e/model", 10), ("reference img/s", 16)
    say(" ".join(f"{name:>{width}}" for name, width in header) + f" {'vs reference':>13}")
    say(f"{e2e:>17.3f} {model:>17.3f} {e2e / model:>10.3f} {ref:>16.3f} {e2e / ref:>13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
