"""JPEG decoding through torchvision for `cgan translate`: libjpeg-turbo on the CPU, nvJPEG on CUDA.

nvJPEG decodes straight into GPU memory, which is the point: the CPU does not decode at all. Its IDCT
is not libjpeg's, so some pixels may differ by a few levels from the CPU decode. EXIF-rotated files
decode on the CPU (torchvision applies orientation only there).

On the CPU the same code runs with torchvision's libjpeg-turbo, which gives Pillow's pixels exactly
(both use the default integer IDCT and fancy upsampling; tests compare 4:2:0, 4:4:4, progressive, grey
and all eight EXIF orientations). Including the header check it is only 1.05-1.1× faster than Pillow
to a tensor (benchmarks/decode.py), so `read_image` (training, eval) stays with Pillow. What torchvision
would decode differently goes to Pillow: CMYK files, colour JPEGs asked for as grey (libjpeg's Y channel
is not Pillow's RGB→L), XMP-only orientation, and images over Pillow's decompression-bomb limit.
torchvision 0.29 deprecates its image codecs in favour of TorchCodec; once they are gone, every JPEG
goes to Pillow.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

EXIF_ORIENTATION = 0x0112


@functools.cache
def _torchvision_decoder() -> Callable | None:
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except (ImportError, RuntimeError, OSError):
        return None
    # once, for the process: catch_warnings() per call would race between decode threads
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchvision\.io")
    return functools.partial(decode_jpeg, mode=ImageReadMode.UNCHANGED)


def orientation(img: Image.Image) -> int:
    return img.getexif().get(EXIF_ORIENTATION, 1)


def decodable(img: Image.Image, channels: int) -> bool:
    """Whether torchvision decodes this opened (header-only) image to exactly what `read_image` makes:
    a plain RGB or grey JPEG within Pillow's decompression-bomb limit, whose orientation (if any) is in
    its EXIF block (Pillow also honours an XMP-only orientation, which libjpeg's reader does not see)."""
    if img.format != "JPEG" or _torchvision_decoder() is None:
        return False
    if Image.MAX_IMAGE_PIXELS and img.width * img.height > Image.MAX_IMAGE_PIXELS:
        return False  # Pillow's path refuses it with its one-line "too large" error
    if orientation(img) != 1 and "exif" not in img.info:
        return False
    return img.mode == "L" or (img.mode == "RGB" and channels == 3)


def decode(path: Path, channels: int, device: torch.device | None = None) -> torch.Tensor | None:
    """uint8 (channels, H, W), upright, on `device` (CPU by default; CUDA means nvJPEG); None when
    torchvision cannot decode the file, so the caller falls back to Pillow and its error messages."""
    decoder = _torchvision_decoder()
    if decoder is None:
        return None
    device = device or torch.device("cpu")
    try:
        data = torch.from_numpy(np.fromfile(path, dtype=np.uint8))
        if device.type == "cuda":
            t = decoder(data, device=device)
        else:
            t = decoder(data, apply_exif_orientation=True)
    except (RuntimeError, ValueError, OSError):
        return None
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        return None
    if t.shape[0] != channels:
        if channels == 1:
            return None  # colour → grey is Pillow's conversion, not libjpeg's
        t = t.expand(3, -1, -1)  # grey → RGB repeats the channel, as Pillow does
    return t  # a (C, H, W) view of HWC memory: callers convert or stack it, a copy here would be wasted


def read_tensor(path: Path, channels: int, device: torch.device) -> torch.Tensor | None:
    """The translate fast path: nvJPEG on CUDA for upright plain JPEGs, torchvision's CPU decoder
    otherwise; None means "use read_image" (not a JPEG, CMYK, corrupt, …)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # as read_image: an error, not a print
            with Image.open(path) as img:
                if not decodable(img, channels):
                    return None
                upright = orientation(img) == 1
    except Exception:  # noqa: BLE001 - any header problem: Pillow's full read reports it properly
        return None
    on_gpu = device.type == "cuda" and upright
    t = decode(path, channels, device if on_gpu else None)
    return None if t is None else t.to(device, non_blocking=True)
