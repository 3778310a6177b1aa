"""Built-in demo data, drawn deterministically (no download): "outlines → shapes".

Input A is a black line drawing of a few circles, squares and triangles on white; target B is the same
scene painted: each kind of shape has its own colour (circles red, squares blue, triangles green),
shaded from its top-left, with a soft shadow, on a warm paper-coloured background. The mapping is
local and learnable, so pix2pix visibly learns it on a CPU in minutes, and it is not the identity.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from cgan_cli.data.io import save_image

COLOURS = {"circle": (214, 48, 49), "square": (9, 132, 227), "triangle": (0, 168, 107)}


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]] | None:
    if kind == "circle":
        return None
    n = 4 if kind == "square" else 3
    return [
        (cx + r * math.cos(angle + 2 * math.pi * k / n), cy + r * math.sin(angle + 2 * math.pi * k / n))
        for k in range(n)
    ]


def demo_pair(index: int, size: int = 64, seed: int = 0) -> tuple[Image.Image, Image.Image]:
    """(outlines, painted) for example `index`; the same arguments always give the same pixels."""
    rng = np.random.default_rng([seed, index])
    scale = 4  # draw large, then downsample: anti-aliased edges
    big = size * scale
    a = Image.new("L", (big, big), 255)
    b = Image.new("RGB", (big, big), (0, 0, 0))
    # paper background with a gentle vertical gradient
    ys = np.linspace(0, 1, big)[:, None, None]
    paper = np.array([247, 239, 222]) * (1 - 0.12 * ys) + np.array([20, 12, 0]) * ys * 0.2
    b = Image.fromarray(np.broadcast_to(paper, (big, big, 3)).astype(np.uint8))
    shadow = Image.new("L", (big, big), 0)
    draw_a, draw_s = ImageDraw.Draw(a), ImageDraw.Draw(shadow)
    shapes = []
    for _ in range(int(rng.integers(1, 4))):
        kind = ("circle", "square", "triangle")[int(rng.integers(0, 3))]
        r = float(rng.uniform(0.14, 0.26)) * big
        cx, cy = (float(v) for v in rng.uniform(r, big - r, size=2))
        shapes.append((kind, cx, cy, r, float(rng.uniform(0, math.pi))))
    line = max(2, big // 64)
    for kind, cx, cy, r, angle in shapes:
        poly = _polygon(kind, cx, cy, r, angle)
        off = big * 0.03
        if poly is None:
            draw_s.ellipse((cx - r + off, cy - r + off, cx + r + off, cy + r + off), fill=150)
        else:
            draw_s.polygon([(x + off, y + off) for x, y in poly], fill=150)
    shadow = shadow.filter(ImageFilter.GaussianBlur(big * 0.02))
    b = Image.composite(Image.new("RGB", b.size, (60, 50, 40)), b, shadow)
    yy, xx = np.mgrid[0:big, 0:big]
    for kind, cx, cy, r, angle in shapes:
        poly = _polygon(kind, cx, cy, r, angle)
        mask = Image.new("L", (big, big), 0)
        if poly is None:
            ImageDraw.Draw(mask).ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
            draw_a.ellipse((cx - r, cy - r, cx + r, cy + r), outline=0, width=line)
        else:
            ImageDraw.Draw(mask).polygon(poly, fill=255)
            draw_a.polygon(poly, outline=0, width=line)
        # light from the top-left: brighter towards (cx - r, cy - r)
        d = np.clip(((xx - (cx - r)) + (yy - (cy - r))) / (4 * r), 0, 1)[..., None]
        base = np.array(COLOURS[kind], dtype=np.float64)
        shade = (base * (1.25 - 0.55 * d)).clip(0, 255).astype(np.uint8)
        b = Image.composite(Image.fromarray(shade), b, mask)
    a = a.resize((size, size), Image.Resampling.LANCZOS).convert("RGB")
    b = b.resize((size, size), Image.Resampling.LANCZOS)
    return a, b


def write_demo(root: Path, train: int = 400, test: int = 40, size: int = 64) -> list[Path]:
    """DIR/train/*.png and DIR/test/*.png in the pix2pix aligned layout (A | B side by side)."""
    written = []
    for split, count, offset in (("train", train, 0), ("test", test, 1_000_000)):
        for i in range(count):
            a, b = demo_pair(offset + i, size)
            ab = Image.new("RGB", (2 * size, size))
            ab.paste(a, (0, 0))
            ab.paste(b, (size, 0))
            written.append(save_image(ab, root / split / f"{i:04d}.png"))
    return written
