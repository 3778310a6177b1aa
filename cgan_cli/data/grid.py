"""Contact sheets: rows of equally sized images joined with a thin white gutter."""

from __future__ import annotations

import torch


def grid(rows: list[list[torch.Tensor]], gutter: int = 2) -> torch.Tensor:
    """rows[r][c] is (C, H, W) in [-1, 1] (1-channel images are shown as gray RGB) → one (3, H', W')."""

    def rgb(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().float().cpu()
        return t.expand(3, -1, -1) if t.shape[0] == 1 else t

    h = max(t.shape[1] for row in rows for t in row)
    w = max(t.shape[2] for row in rows for t in row)
    ncols = max(len(row) for row in rows)
    out = torch.ones(3, len(rows) * (h + gutter) - gutter, ncols * (w + gutter) - gutter)
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            t = rgb(t)
            y, x = r * (h + gutter), c * (w + gutter)
            out[:, y : y + t.shape[1], x : x + t.shape[2]] = t
    return out
