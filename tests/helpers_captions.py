"""Made captioned data: a coloured shape per image, named in its captions."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (230, 30, 30), "green": (30, 200, 40), "blue": (40, 60, 235)}
SHAPES = ("circle", "square")
BACKGROUND = (128, 128, 128)  # mid-grey: an all-black or all-white G is no shortcut


def draw(colour: str, shape: str, size: int = 32, jitter: random.Random | None = None) -> Image.Image:
    rng = jitter or random.Random(0)
    img = Image.new("RGB", (size, size), BACKGROUND)
    d = ImageDraw.Draw(img)
    r = size // 3 + rng.randint(-2, 2)
    cx, cy = size // 2 + rng.randint(-3, 3), size // 2 + rng.randint(-3, 3)
    box = (cx - r, cy - r, cx + r, cy + r)
    (d.ellipse if shape == "circle" else d.rectangle)(box, fill=COLOURS[colour])
    return img


def write_captioned(root: Path, per_kind: int = 4, size: int = 32, jsonl: bool = False) -> Path:
    """`per_kind` images of each colour × shape, with two captions each naming both."""
    rng = random.Random(1)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for colour in COLOURS:
        for shape in SHAPES:
            for i in range(per_kind):
                name = f"{colour}-{shape}-{i}"
                draw(colour, shape, size, rng).save(root / f"{name}.png")
                captions = [f"a {colour} {shape}", f"a {shape} that is {colour}"]
                if jsonl:
                    import json

                    lines.append(json.dumps({"file": f"{name}.png", "captions": captions}))
                else:
                    (root / f"{name}.txt").write_text("\n".join(captions) + "\n")
    if jsonl:
        (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root
