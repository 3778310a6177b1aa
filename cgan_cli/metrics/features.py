"""Inception features of image folders and of generated images, with an on-disk cache.

Images are decoded in threads, resized to 299×299 one by one (so folders of mixed sizes work and
the result equals pytorch-fid's batched `F.interpolate`, which is per-image anyway), and run
through the FID Inception network in fp32 batches. Features are kept once, on the CPU.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cgan_cli.errors import CganError
from cgan_cli.parallel import ordered_map

RESIZE_MODES = ("pytorch-fid", "clean")
SIDE = 299


@dataclass(frozen=True)
class FeatureSettings:
    """Everything that changes a feature value; part of every cache key and of `--json` settings."""

    weights_sha256: str
    resize: str = "pytorch-fid"
    dims: int = 2048
    logits: bool = False


def resize_for_inception(img: Image.Image, mode: str) -> torch.Tensor:
    """RGB image → (3, 299, 299) float in [0, 1].

    pytorch-fid: to [0, 1], then bilinear `F.interpolate(align_corners=False)` (what its InceptionV3 does
    with resize_input=True). clean: clean-fid's resize, PIL bicubic on each channel as float32."""
    arr = np.asarray(img, dtype=np.uint8)
    if mode == "clean":
        channels = [
            np.asarray(Image.fromarray(arr[..., c].astype(np.float32), mode="F").resize((SIDE, SIDE), Image.BICUBIC))
            for c in range(3)
        ]
        return torch.from_numpy(np.clip(np.stack(channels), 0, 255) / 255.0).float()
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)
    return F.interpolate(x[None], size=(SIDE, SIDE), mode="bilinear", align_corners=False)[0]


def quantise(t: torch.Tensor) -> Image.Image:
    """A generated (3, H, W) tensor in [-1, 1] → the uint8 image it would be saved as."""
    arr = ((t.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return Image.fromarray(arr, mode="RGB")


class FeatureExtractor:
    def __init__(self, net: torch.nn.Module, device: torch.device, settings: FeatureSettings, batch_size: int = 50):
        self.net, self.device, self.settings, self.batch_size = net, device, settings, batch_size

    @torch.inference_mode()
    def _features(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        x = batch.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        upto = 2048 if self.settings.logits else self.settings.dims  # IS needs the last block
        out = self.net(x, resize=False, upto=upto)  # fp32 always: no autocast in the FID network
        result = {"pool": out[str(self.settings.dims)].float().cpu()}
        if self.settings.logits:
            result["logits"] = out["logits"].float().cpu()
        return result

    def extract(
        self,
        images: Iterable[Callable[[], Image.Image]],
        workers: int = 4,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Features of images given as loaders (called in worker threads); a loader that raises CganError is
        reported through on_error and skipped."""
        mode = self.settings.resize

        def load(loader: Callable[[], Image.Image]) -> torch.Tensor | str:
            try:
                return resize_for_inception(loader(), mode)
            except CganError as exc:
                return str(exc)

        chunks: dict[str, list[torch.Tensor]] = {}
        batch: list[torch.Tensor] = []

        def flush() -> None:
            if batch:
                for k, v in self._features(torch.stack(batch)).items():
                    chunks.setdefault(k, []).append(v)
                if on_progress:
                    on_progress(len(batch))
                batch.clear()

        with cf.ThreadPoolExecutor(max(1, workers)) as pool:
            for item in ordered_map(pool, load, images, 2 * max(1, workers) * self.batch_size):
                if isinstance(item, str):
                    if on_error:
                        on_error(item)
                    continue
                batch.append(item)
                if len(batch) >= self.batch_size:
                    flush()
            flush()
        if not chunks:
            return {"pool": torch.zeros(0, self.settings.dims)}
        return {k: torch.cat(v) for k, v in chunks.items()}


# --- cache ----------------------------------------------------------------------------------------


CACHE_FORMAT = 2  # bump when what is cached changes meaning (2: IS logits without the classifier bias)


def cache_key(root: Path, paths: list[Path], settings: FeatureSettings, view: str = "") -> str:
    """Folder contents (relative path, size, mtime), settings and the view of the files (one half of A|B files,
    a resize) → a key; any change makes a new key."""
    record = {**asdict(settings), "cache_format": CACHE_FORMAT, **({"view": view} if view else {})}
    h = hashlib.sha256(json.dumps(record, sort_keys=True).encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
