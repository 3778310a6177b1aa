"""Reading any image Pillow reads into a normalised RGB or grayscale picture, and atomic writes.

Every odd mode is handled on purpose: EXIF orientation is applied, alpha is composited on white,
palette/CMYK/LA/1-bit are converted, and 16-bit or 32-bit data is scaled into 8 bits (not clipped).
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cgan_cli.data.atomic import atomic_path
from cgan_cli.errors import ImageReadError, UsageError

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .png .webp .bmp .dib .tif .tiff .gif .ppm .pgm .pbm .pnm .tga .jfif".split()
)
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _high_bit_depth_to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit integer and float images scaled into 0..255 (Pillow's own convert would clip)."""
    arr = np.asarray(img)
    if img.mode == "F":
        peak = float(np.nanmax(arr)) if arr.size else 1.0
        scale = 255.0 if peak <= 1.0 else 255.0 / peak
    else:
        peak = int(arr.max()) if arr.size else 0
        bits = 16 if peak <= 65535 else 32
        scale = 255.0 / (2**bits - 1)
    out = np.clip(np.nan_to_num(arr.astype(np.float64) * scale) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(out, mode="L")


def normalise_mode(img: Image.Image, channels: int = 3) -> Image.Image:
    """Any Pillow mode → "RGB" (channels=3) or "L" (channels=1); transparency goes onto white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _high_bit_depth_to_8bit(img)
    if img.mode == "P" or (img.mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    target = "RGB" if channels == 3 else "L"
    return img if img.mode == target else img.convert(target)


def read_image(path: str | os.PathLike, channels: int = 3) -> Image.Image:
    """Decode one image fully (first frame of animations), upright and in the wanted mode."""
    return normalise_mode(open_image(path), channels)


def open_image(path: str | os.PathLike) -> Image.Image:
    """Decode one image fully (first frame of animations), upright, in the mode it is stored in; every way a
    file can fail to be an image is one `ImageReadError` naming it."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.seek(0)
                img.load()
                return ImageOps.exif_transpose(img) or img
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(path, f"too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            reason = "truncated image file"
        raise ImageReadError(path, f"cannot decode image: {reason}") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header alone (cheap; no full decode)."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1)
            if img.format == "TIFF" and (w, h) != (img.tag_v2.get(256, w), img.tag_v2.get(257, h)):
                orientation = 1  # Pillow already reports the upright size of a rotated TIFF
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"cannot read image header: {exc}") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def image_to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    """PIL (H, W[, C]) uint8 → uint8 tensor (C, H, W)."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def uint8_tensor_to_image(t: torch.Tensor) -> Image.Image:
    """uint8 (C, H, W) with C 1 or 3 → PIL "L" or "RGB"."""
    arr = t.permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr[:, :, 0], mode="L") if arr.shape[2] == 1 else Image.fromarray(arr, mode="RGB")


@functools.cache
def _levels(device: torch.device) -> torch.Tensor:
    """The CPU's x / 127.5 − 1 for each uint8 level, copied to `device` once."""
    return torch.arange(256, dtype=torch.float32).div_(127.5).sub_(1.0).to(device)


def normalise(t: torch.Tensor) -> torch.Tensor:
    """uint8 (…, C, H, W) → float in [-1, 1], on the tensor's device; the one formula every loader uses.
    Off the CPU it is a lookup of the CPU's values: CUDA divides by a scalar as x · (1/127.5), which is
    1 ulp off for 111 of the 256 levels, and batches must not depend on where they were made."""
    if t.device.type == "cpu":
        return t.float().div_(127.5).sub_(1.0)
    return _levels(t.device)[t.long()]


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL (H, W[, C]) uint8 → float tensor (C, H, W) in [-1, 1]."""
    return normalise(image_to_uint8_tensor(img))


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """Float tensor (C, H, W) in [-1, 1] → uint8 array (H, W, C) (or (H, W) for one channel)."""
    arr = ((t.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    arr = arr.permute(1, 2, 0).numpy()
    return arr[:, :, 0] if arr.shape[2] == 1 else arr


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    arr = to_uint8(t)
    return Image.fromarray(arr, mode="L" if arr.ndim == 2 else "RGB")


def write_format(path: Path) -> str:
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: cannot write {path.suffix or 'files without an extension'}; use .png, .jpg or .webp")
    return fmt


def save_image(img: Image.Image | torch.Tensor, path: str | os.PathLike, quality: int = 95) -> Path:
    """Write PNG/JPEG/WebP chosen by the extension, atomically."""
    path = Path(path)
    fmt = write_format(path)
    if isinstance(img, torch.Tensor):
        img = tensor_to_image(img)
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **options)
    return path


def save_animation(frames: list[torch.Tensor], path: str | os.PathLike, duration_ms: int, loop: bool = True) -> Path:
    """An animated GIF of (C, H, W) frames in [-1, 1], written atomically; `loop` repeats it forever."""
    path = Path(path)
    images = [tensor_to_image(f) for f in frames]
    options = {"loop": 0} if loop else {}
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, **options)
    return path
