"""Self-describing `.safetensors` checkpoints.

One file holds every tensor of a run (networks, optimizer moments, RNG states) and, in `__metadata__`,
the family, the full config as JSON, step/epoch, versions and a SHA-256 per tensor group so that a
tampered or damaged file is refused. Nothing is ever unpickled. Writes go to a temp file beside the
target and are renamed into place, so a kill at any moment leaves the previous good file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cgan_cli import __version__
from cgan_cli.data.atomic import atomic_path
from cgan_cli.errors import CheckpointError
from cgan_cli.weights import first_line, tensor_digest

FORMAT = "cgan-checkpoint"
FORMAT_VERSION = 1


def group_of(key: str) -> str:
    """Tensors are named like `net/G/model.0.weight`; the first two parts form a hashed group."""
    return "/".join(key.split("/")[:2])


def _group_digests(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    groups: dict[str, list[str]] = {}
    for key in tensors:
        groups.setdefault(group_of(key), []).append(key)
    return {g: tensor_digest(tensors, keys) for g, keys in groups.items()}


@dataclass
class Checkpoint:
    path: Path | None
    family: str
    config: dict[str, Any]
    step: int
    epoch: int
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # JSON-able trainer/optimizer state
    versions: dict[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()  # every tensor group in the file, read or not

    def sub(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under `prefix/`, with the prefix stripped (e.g. sub("net/G") → a state dict)."""
        start = prefix.rstrip("/") + "/"
        return {k[len(start) :]: v for k, v in self.tensors.items() if k.startswith(start)}


def _metadata_digest(metadata: dict[str, str]) -> str:
    fields = {k: v for k, v in metadata.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> Path:
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in ckpt.tensors.items()}
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "family": ckpt.family,
        "config": json.dumps(ckpt.config, sort_keys=True),
        "step": str(ckpt.step),
        "epoch": str(ckpt.epoch),
        "state": json.dumps(ckpt.state, sort_keys=True),
        "sha256": json.dumps(_group_digests(tensors), sort_keys=True),
        "cgan_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }
    metadata["meta_sha256"] = _metadata_digest(metadata)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The `__metadata__` of a cgan checkpoint, checked for format; reads only the header."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for any damage
        raise CheckpointError(f"{path}: not a readable .safetensors checkpoint ({first_line(exc)})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a .safetensors file, but not a cgan checkpoint (no cgan metadata)")
    version = meta.get("format_version", "0")
    if not version.isdigit():
        raise CheckpointError(f"{path}: damaged checkpoint metadata (format version {version[:20]!r})")
    if int(version) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer cgan (format {meta['format_version']}); upgrade cgan")
    if meta.get("meta_sha256") != _metadata_digest(meta):
        raise CheckpointError(f"{path}: checksum mismatch in the metadata: the file was modified or damaged")
    return meta


def load_checkpoint(
    path: str | os.PathLike, groups: Iterable[str] | None = None, header: dict[str, str] | None = None
) -> Checkpoint:
    """Read a checkpoint (only the tensor groups named, e.g. ["net/G"], when given) and verify hashes;
    `header`: its `read_metadata`, when the caller has read (and so verified) it already."""
    path = Path(path)
    meta = read_metadata(path) if header is None else header
    try:
        digests = json.loads(meta["sha256"])
        config = json.loads(meta["config"])
        state = json.loads(meta.get("state", "{}"))
        step, epoch = int(meta["step"]), int(meta["epoch"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged checkpoint metadata ({first_line(exc)})") from None
    wanted = None if groups is None else set(groups)
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                if wanted is None or group_of(key) in wanted:
                    tensors[key] = f.get_tensor(key)
    except Exception as exc:
        raise CheckpointError(f"{path}: damaged checkpoint ({first_line(exc)})") from None
    for group, digest in _group_digests(tensors).items():
        if digests.get(group) != digest:
            raise CheckpointError(f"{path}: checksum mismatch in {group}: the file was modified or damaged")
    for group in digests if wanted is None else wanted:  # a group the header lists whose tensors were cut out
        if group in digests and not any(group_of(k) == group for k in tensors):
            raise CheckpointError(f"{path}: tensors of {group} are missing: the file was modified or damaged")
    versions = {k: meta[k] for k in ("cgan_version", "torch_version") if k in meta}
    return Checkpoint(path, meta["family"], config, step, epoch, tensors, state, versions, tuple(sorted(digests)))


def link_or_copy(src: Path, dst: Path) -> None:
    """Point `dst` at the same bytes as `src`, atomically (hard link where possible)."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        if tmp.exists():
            tmp.unlink()
        os.link(src, tmp)
    except OSError:
        with atomic_path(dst) as copy:
            shutil.copyfile(src, copy)
        return
    os.replace(tmp, dst)
