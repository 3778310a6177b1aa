"""An on-disk cache of tensors (Inception features, caption embeddings), keyed by content digests.

Entries are safetensors files written atomically, so a kill leaves either the old entry or none; a
damaged entry is treated as a miss. `CGAN_CACHE_DIR` overrides the location (`$XDG_CACHE_HOME/cgan`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cgan_cli.data.atomic import atomic_path


def cache_dir(kind: str) -> Path:
    """The folder of one kind of entry ("features", "text")."""
    if os.environ.get("CGAN_CACHE_DIR"):
        return Path(os.environ["CGAN_CACHE_DIR"]) / kind
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cgan" / kind


def read_cached(kind: str, key: str) -> dict[str, torch.Tensor] | None:
    path = cache_dir(kind) / f"{key}.safetensors"
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # a damaged cache entry is just a miss
        return None


def write_cached(kind: str, key: str, tensors: dict[str, torch.Tensor]) -> None:
    path = cache_dir(kind) / f"{key}.safetensors"
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
