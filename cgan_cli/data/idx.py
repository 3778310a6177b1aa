"""LeCun's idx format (MNIST, Fashion-MNIST, EMNIST, KMNIST) and turning it into class folders.

An idx file is two zero bytes, a type code, the number of dimensions, each dimension as a big-endian
uint32, then the data in big-endian C order; the datasets ship it gzipped. Writing the images out as
`OUT/<class>/<index>.png` makes them an ordinary ImageFolder dataset for `find_classes`.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from cgan_cli.data.io import save_image
from cgan_cli.errors import DataError

# Type codes of the idx spec → numpy dtypes (big-endian, as stored).
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# The official Fashion-MNIST labels 0..9, made safe as folder names ("T-shirt/top" → "t-shirt_top").
FASHION_MNIST_CLASSES = (
    "t-shirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
)
# Where Debian's `dataset-fashion-mnist` package installs train-/t10k-{images-idx3,labels-idx1}-ubyte.gz.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip (told by content, not by name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an idx file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: damaged gzip data ({str(exc) or type(exc).__name__})") from None


def read_idx(path: Path) -> np.ndarray:
    """The array an idx file (plain or gzipped) holds, in native byte order. The header is checked and the
    data must fill exactly the dimensions it declares, so truncated or padded downloads are refused."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0":
        raise DataError(f"{path}: not an idx file (it does not start with the idx magic number)")
    code, ndim = data[2], data[3]
    dtype = IDX_DTYPES.get(code)
    if dtype is None:
        raise DataError(f"{path}: unknown idx data type 0x{code:02x} (expected one of 08 09 0b 0c 0d 0e)")
    if ndim == 0:
        raise DataError(f"{path}: idx header declares no dimensions")
    start = 4 + 4 * ndim
    if len(data) < start:
        raise DataError(f"{path}: truncated idx header ({len(data)} bytes, {ndim} dimensions declared)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - start != expected:
        dims = "×".join(map(str, shape))
        state = "truncated" if len(data) - start < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {state}: header says {dims} {dtype.name} ({expected} bytes), found {len(data) - start}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=start).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def read_fashion_mnist(split: str = "train", root: Path = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images N×28×28 uint8, labels N uint8) of the "train" or "t10k" split, gzipped or not."""
    if split not in ("train", "t10k"):
        raise DataError(f"unknown Fashion-MNIST split {split!r} (expected train or t10k)")
    root = Path(root)

    def find(stem: str) -> Path:
        plain = root / stem
        return plain if plain.exists() else root / f"{stem}.gz"

    images = read_idx(find(f"{split}-images-idx3-ubyte"))
    labels_path = find(f"{split}-labels-idx1-ubyte")
    labels = read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{labels_path}: {labels.shape} labels do not match {images.shape} images")
    return images, labels


def write_class_folders(
    images: np.ndarray,
    labels: np.ndarray,
    out: Path,
    names: Sequence[str],
    limit_per_class: int | None = None,
) -> int:
    """Write `out/<names[label]>/<index:05d>.png` (grey, atomic) for the first `limit_per_class` images of
    each class (all by default); `index` is the position in `images`. Files already there are kept, so an
    interrupted run can be rerun. Returns how many files were written."""
    out = Path(out)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{len(labels)} labels (shape {labels.shape}) for {len(images)} images")
    for name in names:
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            raise DataError(f"{name!r} cannot be a class folder name")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(names)):
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        raise DataError(f"label {bad} has no class name ({len(names)} names given)")
    if limit_per_class is not None and limit_per_class < 0:
        raise DataError(f"limit per class must be ≥ 0, not {limit_per_class}")
    counts = [0] * len(names)
    written = 0
    for index, label in enumerate(labels.tolist()):
        if limit_per_class is not None and counts[label] >= limit_per_class:
            continue
        counts[label] += 1
        path = out / names[label] / f"{index:05d}.png"
        if path.exists():
            continue
        save_image(Image.fromarray(np.ascontiguousarray(images[index])), path)
        written += 1
    return written
