"""Generator forward (inference) images/s: the ways one could run pix2pix's U-Net, against plain eager.

Variants, all fp32 unless the device is CUDA (then `cgan`'s path, bf16 autocast + channels_last, is one of them):

- `eager`: `net(x)` under inference_mode, contiguous tensors: what the reference's test.py runs.
- `channels_last`: weights and input in channels_last (oneDNN's preferred layout on CPU, Tensor Cores' on GPU).
- `compile`: `torch.compile(net)` (inductor), after warm-up compiles.
- `optimize_for_inference`: TorchScript trace + `torch.jit.optimize_for_inference` (frozen, oneDNN-converted).
- `cgan` (CUDA only): bf16 autocast + channels_last, what `cgan translate` runs there.

Ratio = variant img/s ÷ eager img/s, per batch size, in one process; rounds alternate the variants so that
machine noise hits all alike, and the median (or `--stat max`) is reported. Each variant's output is checked
against eager's (max abs difference printed; fp32 variants must agree within 1e-3).

    python benchmarks/forward.py                         # unet_256 at 256², batch 1 and 8
    python benchmarks/forward.py --batch-size 1,8,16 --json
    python benchmarks/forward.py --quick                 # unet_64 at 64², batch 1 and 4, no compile
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import torch
from common import add_common_options, setup

from cgan_cli.config.choices import UNET_SIZES
from cgan_cli.device import autocast
from cgan_cli.families import create
from cgan_cli.families.pix2pix import Pix2PixConfig

VARIANTS = ("eager", "channels_last", "compile", "optimize_for_inference", "cgan")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="U-Net generator forward img/s: eager vs channels_last, torch.compile, TorchScript "
        "optimize_for_inference (and cgan's bf16 path on CUDA). Ratio = variant / eager.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size", type=int, default=256, help="Image side.")
    p.add_argument("--batch-size", default="1,8", help="Batch sizes, e.g. 1,8.")
    p.add_argument("--net-g", default="unet_256", choices=tuple(UNET_SIZES), help="Generator.")
    p.add_argument("--variants", default=",".join(VARIANTS), help="Which variants (cgan runs on CUDA only).")
    p.add_argument("--iters", type=int, default=4, help="Forward passes per timed block.")
    p.add_argument("--rounds", type=int, default=3, help="Timed blocks per variant, alternated.")
    p.add_argument("--quick", action="store_true", help="Smoke run: 64², unet_64, batch 1 and 4, no compile.")
    add_common_options(p, "blocks")
    if p.parse_known_args(argv)[0].quick:
        p.set_defaults(size=64, net_g="unet_64", batch_size="1,4", iters=2, rounds=2,
                       variants="eager,channels_last,optimize_for_inference")  # fmt: skip
    return p.parse_args(argv)


def build(name: str, net: torch.nn.Module, x: torch.Tensor, dev: torch.device) -> Callable[[], torch.Tensor]:
    if name == "eager":
        return lambda: net(x)
    if name == "channels_last":
        cl = copy.deepcopy(net).to(memory_format=torch.channels_last)  # Module.to is in place: keep eager's net
        xc = x.contiguous(memory_format=torch.channels_last)
        return lambda: cl(xc)
    if name == "compile":
        compiled = torch.compile(net)
        return lambda: compiled(x)
    if name == "optimize_for_inference":
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated; measured while it exists
            frozen = torch.jit.optimize_for_inference(torch.jit.trace(net, x.clone()))
        return lambda: frozen(x)
    if name == "cgan":
        fast = copy.deepcopy(net).to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)

        def run() -> torch.Tensor:
            with autocast(dev):
                return fast(xc)

        return run
    raise SystemExit(f"unknown variant {name}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dev = setup(args)
    cuda = dev.type == "cuda"
    variants = [v for v in args.variants.split(",") if v and (v != "cgan" or cuda)]
    summary = sys.stderr if args.json else sys.stdout
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    cfg = Pix2PixConfig(paired="<benchmark: no data read>", net_g=args.net_g, load_size=args.size,
                        crop_size=args.size)  # fmt: skip
    torch.manual_seed(0)
    net = create("pix2pix", cfg, dev).G.eval()
    print(f"{args.net_g} forward at {args.size}² on {dev} ({torch.get_num_threads()} threads), torch "
          f"{torch.__version__}; load {load}", file=summary)  # fmt: skip
    print(f"{'batch':>5} {'variant':>24} {'img/s':>9} {'vs eager':>9} {'max |diff|':>11}", file=summary)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    for batch in [int(b) for b in args.batch_size.split(",")]:
        x = torch.randn(batch, cfg.input_nc, args.size, args.size, generator=torch.Generator().manual_seed(1)).to(dev)
        with torch.inference_mode():
            runs = {v: build(v, net, x, dev) for v in variants}
            reference = runs["eager"]().float() if "eager" in runs else None
            diffs = {}
            for v, run in runs.items():  # warm-up (compiles, autotunes) and the equivalence check
                out = run().float()
                diffs[v] = float((out - reference).abs().max()) if reference is not None else float("nan")
                run()
            rates: dict[str, list[float]] = {v: [] for v in runs}
            for r in range(args.rounds):
                for v in runs if r % 2 == 0 else reversed(runs):
                    sync()
                    t = time.perf_counter()
                    for _ in range(args.iters):
                        runs[v]()
                    sync()
                    rates[v].append(batch * args.iters / (time.perf_counter() - t))
        combine = statistics.median if args.stat == "median" else max
        base = combine(rates["eager"]) if "eager" in rates else float("nan")
        for v in runs:
            rate = combine(rates[v])
            fp32 = v != "cgan"
            if fp32 and diffs[v] > 1e-3:
                raise SystemExit(f"{v} disagrees with eager by {diffs[v]:.2e} at batch {batch}")
            row = {"benchmark": "forward", "device": str(dev), "threads": torch.get_num_threads(), "loadavg": load,
                   "net_g": args.net_g, "size": args.size, "batch_size": batch, "variant": v,
                   "img_s": round(rate, 4), "ratio": round(rate / base, 4), "max_abs_diff": diffs[v],
                   "img_s_blocks": [round(b, 4) for b in rates[v]]}  # fmt: skip
            if args.json:
                print(json.dumps(row), flush=True)
            print(f"{batch:>5} {v:>24} {rate:>9.3f} {rate / base:>9.3f} {diffs[v]:>11.2e}", file=summary, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
