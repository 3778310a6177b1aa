"""LPIPS weights: finding, checking, loading and writing them (the network itself is lpips_network.py's).

Weights come in two parts: the torchvision backbone (`alexnet-owt-7be5be79.pth` / `vgg16-397923af.pth` in the torch
hub cache, as `lpips` itself loads them) and the linear layers (`alex.pth` / `vgg.pth` v0.1, shipped inside the
`lpips` wheel). `write_lpips_weights` (or `python -m cgan_cli.metrics.lpips OUT.safetensors`) joins both into one
self-checking `.safetensors` file for `--lpips-weights` / `$CGAN_LPIPS_WEIGHTS`. `.pth` files are read with
`torch.load(weights_only=True)`: tensors only, nothing arbitrary is unpickled. The mechanics (the hub cache, atomic
downloads, hashing, safe reading) are cgan_cli/weights.py's; the network and its `NETS` are re-exported from here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from cgan_cli import weights as weight_files
from cgan_cli.data.atomic import atomic_path
from cgan_cli.errors import CganError
from cgan_cli.metrics.lpips_network import EPS, LPIPS, NETS, SCALE, SHIFT, NetSpec, to_input

__all__ = [
    "ENV_VAR",
    "EPS",
    "FORMAT",
    "FORMAT_VERSION",
    "LINEAR_URL",
    "LPIPS",
    "NETS",
    "PUBLISHED",
    "SCALE",
    "SHIFT",
    "VERSION",
    "CganError",
    "LPIPSWeights",
    "NetSpec",
    "PublishedWeights",
    "find_lpips_weights",
    "hub_backbone_path",
    "hub_linear_path",
    "linear_url",
    "load_lpips",
    "main",
    "package_linear_path",
    "to_input",
    "write_lpips_weights",
]

VERSION = "0.1"  # of the linear layers (0.0 had a normalisation bug; 0.1 is lpips' default and latest)
ENV_VAR = "CGAN_LPIPS_WEIGHTS"
FORMAT = "cgan-lpips-weights"
FORMAT_VERSION = 1
LINEAR_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v{version}/{net}.pth"
# the tensor header of a combined file's digest, as written since format 1 (so older files still verify)
_DIGEST_ENTRY = "|{key}|{dtype}|{shape}|"


@dataclass(frozen=True)
class PublishedWeights:
    """Where one net's published LPIPS weights are: torchvision's backbone and lpips' v0.1 linear layers."""

    backbone_file: str  # torchvision's file name in the hub cache; its middle part is a SHA-256 prefix
    backbone_url: str
    linear_sha256: str  # of the v0.1 linear weights shipped in lpips 0.1.4 (= the GitHub file)

    @property
    def backbone_hash_prefix(self) -> str:
        return self.backbone_file.rsplit("-", 1)[1].split(".")[0]


PUBLISHED: dict[str, PublishedWeights] = {
    "alex": PublishedWeights(
        backbone_file="alexnet-owt-7be5be79.pth",
        backbone_url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        linear_sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    ),
    "vgg": PublishedWeights(
        backbone_file="vgg16-397923af.pth",
        backbone_url="https://download.pytorch.org/models/vgg16-397923af.pth",
        linear_sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    ),
}


# --- finding the weights ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LPIPSWeights:
    """Which LPIPS weights were found, for the record: values are only comparable with the same weights."""

    net: str
    source: str  # "--lpips-weights" | "$CGAN_LPIPS_WEIGHTS" | "<backbone source>, <linear source>"
    backbone_sha256: str  # of torchvision's .pth (recorded in a combined file when it was written)
    linear_sha256: str  # of lpips' v0.1 .pth
    file: Path | None = None  # a combined .safetensors file, when one was used
    file_sha256: str | None = None
    parts: dict[str, Path] = field(default_factory=dict)  # "backbone", "linear": the .pth files otherwise

    @property
    def official(self) -> bool:
        """Whether these are the published weights (the backbone by torchvision's hash prefix, the linear layers
        by lpips 0.1.4's SHA-256): other weights give numbers comparable with nothing else."""
        spec = PUBLISHED[self.net]
        return self.backbone_sha256.startswith(spec.backbone_hash_prefix) and self.linear_sha256 == spec.linear_sha256

    def settings(self) -> dict[str, object]:
        out: dict[str, object] = {
            "lpips_net": self.net,
            "lpips_version": VERSION,
            "lpips_weights_source": self.source,
            "lpips_backbone_sha256": self.backbone_sha256,
            "lpips_linear_sha256": self.linear_sha256,
        }
        if self.file_sha256 is not None:
            out["lpips_weights_sha256"] = self.file_sha256
        return out


def hub_backbone_path(net: str) -> Path:
    """Where torchvision (and so `lpips`) keeps the backbone: $TORCH_HOME/hub/checkpoints/ by default."""
    return weight_files.hub_dir() / PUBLISHED[net].backbone_file


def hub_linear_path(net: str) -> Path:
    """Where we download the linear layers when the `lpips` package is not installed."""
    return weight_files.hub_dir() / f"lpips-v{VERSION}-{net}.pth"


def linear_url(net: str) -> str:
    return LINEAR_URL.format(version=VERSION, net=net)


def package_linear_path(net: str) -> Path | None:
    """The v0.1 linear weights inside an installed `lpips` package, found without importing it."""
    return weight_files.package_file("lpips", f"weights/v{VERSION}/{net}.pth")


def _where_to_put(net: str, missing: list[str]) -> str:
    spec = PUBLISHED[net]
    where = []
    if "backbone" in missing:
        where.append(f"{spec.backbone_file} (from {spec.backbone_url}) at {hub_backbone_path(net)}")
    if "linear" in missing:
        where.append(f"{net}.pth v{VERSION} (from {linear_url(net)}) at {hub_linear_path(net)} (or pip install lpips)")
    return (
        f"put {' and '.join(where)}; or give --lpips-weights FILE (or ${ENV_VAR}), written where they are by "
        f"`python -m cgan_cli.metrics.lpips --net {net} FILE`"
    )


def _find_parts(net: str, download: bool) -> tuple[dict[str, Path], dict[str, str]]:
    """The backbone and linear .pth files of `net`, and where each came from."""
    spec = PUBLISHED[net]
    parts: dict[str, Path] = {}
    sources: dict[str, str] = {}
    if hub_backbone_path(net).is_file():
        parts["backbone"], sources["backbone"] = hub_backbone_path(net), "torch hub cache"
    if (packaged := package_linear_path(net)) is not None:
        parts["linear"], sources["linear"] = packaged, "lpips package"
    elif hub_linear_path(net).is_file():
        parts["linear"], sources["linear"] = hub_linear_path(net), "torch hub cache"
    missing = [part for part in ("backbone", "linear") if part not in parts]
    if missing and download:
        try:
            if "backbone" in missing:
                weight_files.download_file(spec.backbone_url, hub_backbone_path(net), prefix=spec.backbone_hash_prefix)
                parts["backbone"], sources["backbone"] = hub_backbone_path(net), "download"
                missing.remove("backbone")
            if "linear" in missing:
                weight_files.download_file(linear_url(net), hub_linear_path(net), sha256=spec.linear_sha256)
                parts["linear"], sources["linear"] = hub_linear_path(net), "download"
                missing.remove("linear")
        except weight_files.WeightsError as exc:
            raise CganError(
                f"no LPIPS weights ({net}) and cannot download them ({exc.reason}); {_where_to_put(net, missing)}"
            ) from None
    if missing:
        raise CganError(f"no LPIPS weights ({net}): {_where_to_put(net, missing)}")
    return parts, sources


def _combined_metadata(path: Path) -> dict[str, str]:
    """The header of a combined weights file, checked for format (the tensors are checked when loaded)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for foreign or damaged files
        raise CganError(f"{path}: not a readable .safetensors file ({weight_files.first_line(exc)})") from None
    if meta.get("format") != FORMAT:
        raise CganError(
            f"{path}: not an LPIPS weights file (no {FORMAT} metadata); write one with "
            "`python -m cgan_cli.metrics.lpips --net alex FILE`"
        )
    version = meta.get("format_version", "0")
    if not version.isdigit():
        raise CganError(f"{path}: damaged LPIPS weights metadata (format version {version[:20]!r})")
    if int(version) > FORMAT_VERSION:
        raise CganError(f"{path}: written by a newer cgan (format {version}); upgrade cgan")
    if meta.get("net") not in NETS or meta.get("version") != VERSION:
        raise CganError(f"{path}: LPIPS weights of an unknown kind (net {meta.get('net')}, v{meta.get('version')})")
    return meta


def find_lpips_weights(explicit: Path | None = None, net: str | None = None, download: bool = True) -> LPIPSWeights:
    """The first of: `explicit` (--lpips-weights, a combined .safetensors file), $CGAN_LPIPS_WEIGHTS, the torch hub
    cache's backbone with the `lpips` package's (or the hub cache's) linear layers; else a download of what is
    missing into the hub cache (if allowed). `net` None: the combined file's net, else "alex". A named file that is
    missing is an error, not a reason to look further."""
    if net is not None and net not in NETS:
        raise CganError(f"--lpips-net must be one of {', '.join(NETS)} (got {net!r})")
    file = source = None
    if explicit is not None:
        file, source = weight_files.given_file(Path(explicit), "--lpips-weights"), "--lpips-weights"
    elif os.environ.get(ENV_VAR):
        file, source = weight_files.given_file(Path(os.environ[ENV_VAR]), f"${ENV_VAR}"), f"${ENV_VAR}"
    if file is not None:
        meta = _combined_metadata(file)
        if net is not None and meta["net"] != net:
            raise CganError(f"{file}: LPIPS weights for net {meta['net']}, but --lpips-net {net} was asked for")
        return LPIPSWeights(
            net=meta["net"],
            source=str(source),
            backbone_sha256=meta.get("backbone_sha256", ""),
            linear_sha256=meta.get("linear_sha256", ""),
            file=file,
            file_sha256=weight_files.file_sha256(file),
        )
    net = net or "alex"
    parts, sources = _find_parts(net, download)
    return LPIPSWeights(
        net=net,
        source=f"{sources['backbone']}, {sources['linear']}",
        backbone_sha256=weight_files.file_sha256(parts["backbone"]),
        linear_sha256=weight_files.file_sha256(parts["linear"]),
        parts=parts,
    )


# --- loading them -----------------------------------------------------------------------------------------------


def _expect(path: Path, what: str, loaded: dict[str, Tensor], names: dict[str, tuple[str, ...]], ours: dict) -> dict:
    """Our tensor name → the file's tensor (its first present alias), checked for presence, shape and finiteness."""
    out = {}
    for name, aliases in names.items():
        key = next((a for a in aliases if a in loaded), None)
        if key is None:
            raise CganError(f"{path}: not {what} (it has no {aliases[0]})")
        tensor = loaded[key]
        if tuple(tensor.shape) != tuple(ours[name].shape):
            shapes = f"{tuple(tensor.shape)}, expected {tuple(ours[name].shape)}"
            raise CganError(f"{path}: not {what} ({key} has shape {shapes})")
        if not tensor.is_floating_point() or not bool(torch.isfinite(tensor).all()):
            raise CganError(f"{path}: not {what} ({key} is not finite floating point)")
        out[name] = tensor.float().contiguous()
    return out


def _state_from_parts(net: str, backbone: Path, linear: Path, model: LPIPS) -> dict[str, Tensor]:
    """torchvision's features.* (its classifier is ignored) and lpips' lin{k}.model.1.weight, in our names."""
    ours = model.state_dict()
    what = f"torchvision's {'AlexNet' if net == 'alex' else 'VGG16'} weights"
    feature_names = {k: (k,) for k in ours if k.startswith("features.")}
    state = _expect(backbone, what, weight_files.read_state_dict(backbone), feature_names, ours)
    # lpips' NetLinLayer is Sequential(Dropout, Conv2d) as trained (model.1), Sequential(Conv2d) without dropout
    lin_names = {f"lins.{k}.weight": (f"lin{k}.model.1.weight", f"lin{k}.model.0.weight") for k in range(5)}
    what = f"lpips' v{VERSION} {net} linear weights"
    state.update(_expect(linear, what, weight_files.read_state_dict(linear), lin_names, ours))
    return state


def _digest(meta: dict[str, str], tensors: dict[str, Tensor]) -> str:
    """A combined file's own checksum: its metadata (but the checksum) and its tensors."""
    head = json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode()
    return weight_files.tensor_digest(tensors, head=head, entry=_DIGEST_ENTRY)


def _state_from_file(path: Path, model: LPIPS) -> dict[str, Tensor]:
    meta = _combined_metadata(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:
        raise CganError(f"{path}: damaged LPIPS weights file ({weight_files.first_line(exc)})") from None
    if meta.get("sha256") != _digest(meta, tensors):
        raise CganError(f"{path}: checksum mismatch: the LPIPS weights file was modified or damaged")
    ours = model.state_dict()
    if set(tensors) != set(ours):
        raise CganError(f"{path}: LPIPS weights with other tensors than {model.net} needs")
    return _expect(path, f"LPIPS {model.net} weights", tensors, {k: (k,) for k in ours}, ours)


def load_lpips(weights: LPIPSWeights, device: torch.device | str = "cpu") -> LPIPS:
    """The network in eval mode on `device`, without gradients."""
    model = LPIPS(weights.net)
    if weights.file is not None:
        state = _state_from_file(weights.file, model)
    else:
        state = _state_from_parts(weights.net, weights.parts["backbone"], weights.parts["linear"], model)
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False).to(device)


def write_lpips_weights(
    dest: str | os.PathLike,
    net: str = "alex",
    backbone: str | os.PathLike | None = None,
    linear: str | os.PathLike | None = None,
    download: bool = True,
) -> Path:
    """Join torchvision's backbone and lpips' v0.1 linear layers into one .safetensors file for --lpips-weights.
    `backbone`/`linear` default to what the search finds (hub cache, `lpips` package, download)."""
    if net not in NETS:
        raise CganError(f"net must be one of {', '.join(NETS)} (got {net!r})")
    if backbone is None or linear is None:
        found, _ = _find_parts(net, download)
        backbone = backbone if backbone is not None else found["backbone"]
        linear = linear if linear is not None else found["linear"]
    backbone, linear = (
        weight_files.given_file(Path(backbone), "backbone"),
        weight_files.given_file(Path(linear), "linear weights"),
    )
    model = LPIPS(net)
    tensors = _state_from_parts(net, backbone, linear, model)
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "net": net,
        "version": VERSION,
        "backbone_file": backbone.name,
        "backbone_sha256": weight_files.file_sha256(backbone),
        "linear_sha256": weight_files.file_sha256(linear),
    }
    meta["sha256"] = _digest(meta, tensors)
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cgan_cli.metrics.lpips",
        description="Write one .safetensors file with LPIPS' backbone and linear weights (for --lpips-weights).",
    )
    parser.add_argument("out", type=Path, help="the .safetensors file to write")
    parser.add_argument("--net", choices=sorted(NETS), default="alex")
    parser.add_argument(
        "--backbone", type=Path, help=f"torchvision's .pth (default: the torch hub cache's, {weight_files.hub_dir()})"
    )
    parser.add_argument("--linear", type=Path, help=f"lpips' v{VERSION} linear .pth (default: the lpips package's)")
    parser.add_argument("--no-download", action="store_true", help="never download missing files")
    args = parser.parse_args(argv)
    try:
        path = write_lpips_weights(args.out, args.net, args.backbone, args.linear, download=not args.no_download)
    except CganError as exc:
        print(f"cgan: error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
