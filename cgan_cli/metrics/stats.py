"""FID statistics files (`--save-stats`): μ and Σ in float64 with their count and settings, as
`.safetensors` (never pickle, unlike pytorch-fid's `.npz` which may hold objects)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cgan_cli.data.atomic import atomic_path
from cgan_cli.errors import CganError

FORMAT = "cgan-fid-stats"


@dataclass
class FIDStats:
    mu: torch.Tensor  # (D,) float64
    sigma: torch.Tensor  # (D, D) float64
    count: int
    settings: dict[str, Any]


def is_stats_file(path: Path) -> bool:
    if not path.is_file() or path.suffix != ".safetensors":
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("format") == FORMAT
    except Exception:
        return False


def save_stats(path: Path, stats: FIDStats) -> Path:
    meta = {"format": FORMAT, "count": str(stats.count), "settings": json.dumps(stats.settings, sort_keys=True)}
    tensors = {"mu": stats.mu.double().cpu().contiguous(), "sigma": stats.sigma.double().cpu().contiguous()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_stats(path: Path) -> FIDStats:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CganError(f"{path}: not a cgan FID statistics file")
            mu, sigma = f.get_tensor("mu"), f.get_tensor("sigma")
        return FIDStats(mu, sigma, int(meta["count"]), json.loads(meta["settings"]))
    except CganError:
        raise
    except Exception as exc:
        raise CganError(f"{path}: damaged FID statistics file ({str(exc).splitlines()[0][:200]})") from None
