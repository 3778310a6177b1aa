"""A tiny labelled dataset whose class is visible: coloured discs on black at random places."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (40, 40, 230)}


def write_classes(root: Path, per_class: int = 8, size: tuple[int, int] = (40, 36), seed: int = 0) -> Path:
    rng = random.Random(seed)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            im = Image.new("RGB", size, (10, 10, 10))
            x, y = rng.randint(0, size[0] - 18), rng.randint(0, size[1] - 18)
            ImageDraw.Draw(im).ellipse((x, y, x + 18, y + 18), fill=colour)
            im.save(root / name / f"{i}.png")
    return root
