"""LPIPS: ours against the official `lpips` package on the same weights, the weights search, and `cgan eval --lpips`.

No download: the torchvision backbones are random (seeded) state dicts written into a temporary torch hub cache
under the official file names, where both torchvision (so `lpips`) and we find them; the linear layers are the real
v0.1 ones shipped inside the `lpips` wheel.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

lpips_pkg = pytest.importorskip("lpips")

from cgan_cli.cli import app  # noqa: E402
from cgan_cli.data.io import read_image  # noqa: E402
from cgan_cli.metrics import lpips as ours  # noqa: E402

# lpips 0.1.4 builds its backbone with torchvision's deprecated `pretrained=True`
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated since 0.13:UserWarning")

TV_MODELS = {"alex": "alexnet", "vgg": "vgg16"}


def random_backbone(net: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision state dict of `net` with seeded He-initialised features. The classifier (unused by LPIPS, but
    torchvision loads strictly) is a stride-0 view of one zero, so the .pth stays small: torch.save writes storages."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in getattr(torchvision.models, TV_MODELS[net])().state_dict().items()}
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if not key.startswith("features."):
            state[key] = torch.zeros(1).expand(shape)
        elif key.endswith("weight"):
            state[key] = torch.randn(shape, generator=g) * (2 / shape[1:].numel()) ** 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.1
    return state


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(random_backbone("alex"), checkpoints / ours.PUBLISHED["alex"].backbone_file)
    return home


@pytest.fixture
def hub(torch_home, monkeypatch) -> Path:
    """TORCH_HOME pointing at the random backbones; no $CGAN_LPIPS_WEIGHTS."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.delenv(ours.ENV_VAR, raising=False)
    return torch_home


@pytest.fixture(scope="module")
def weights_file(torch_home, tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(torch_home))
        return ours.write_lpips_weights(tmp_path_factory.mktemp("w") / "lpips-alex.safetensors", download=False)


def pairs(seed: int, shapes) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(s, generator=g) * 2 - 1, torch.rand(s, generator=g) * 2 - 1) for s in shapes]


def offline(monkeypatch) -> None:
    """Nothing to download from, and no `lpips` package to take the linear layers from."""
    for net, spec in ours.PUBLISHED.items():
        monkeypatch.setitem(
            ours.PUBLISHED, net, dataclasses.replace(spec, backbone_url=f"file:///nonexistent/{net}.pth")
        )
    monkeypatch.setattr(ours, "LINEAR_URL", "file:///nonexistent/v{version}/{net}.pth")
    monkeypatch.setattr(ours, "package_linear_path", lambda net: None)


# --- the numbers ------------------------------------------------------------------------------------------------


def test_equals_the_lpips_package_alex(hub):
    found = ours.find_lpips_weights(download=False)
    assert found.net == "alex" and found.source == "torch hub cache, lpips package" and found.file is None
    assert found.linear_sha256 == ours.PUBLISHED["alex"].linear_sha256 and not found.official  # random backbone
    model = ours.load_lpips(found)
    theirs = lpips_pkg.LPIPS(net="alex", version="0.1", verbose=False)
    for a, b in pairs(0, [(3, 3, 64, 64), (2, 3, 31, 45), (1, 3, 97, 40)]):
        with torch.no_grad():
            expected = theirs(a, b).flatten()
        got = model(a, b)
        assert got.shape == expected.shape and (expected > 0).all()
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_equals_the_lpips_package_vgg(hub, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(random_backbone("vgg", seed=1), home / "hub" / "checkpoints" / ours.PUBLISHED["vgg"].backbone_file)
    monkeypatch.setenv("TORCH_HOME", str(home))
    model = ours.load_lpips(ours.find_lpips_weights(net="vgg", download=False))
    with monkeypatch.context() as mp:  # torchvision's random init of VGG16's 138M parameters is overwritten anyway
        for name in ("kaiming_normal_", "kaiming_uniform_", "normal_", "constant_", "uniform_"):
            mp.setattr(torch.nn.init, name, lambda t, *args, **kwargs: t)
        theirs = lpips_pkg.LPIPS(net="vgg", version="0.1", verbose=False)
    for a, b in pairs(1, [(2, 3, 16, 24)]):
        with torch.no_grad():
            expected = theirs(a, b).flatten()
        torch.testing.assert_close(model(a, b), expected, atol=1e-5, rtol=0)


def test_identity_symmetry_and_image_input(hub):
    model = ours.load_lpips(ours.find_lpips_weights(download=False))
    ((a, b),) = pairs(2, [(2, 3, 40, 48)])
    assert (model(a, a) == 0).all()
    assert (model(a, b) > 0).all()
    torch.testing.assert_close(model(a, b), model(b, a), atol=1e-7, rtol=0)
    with pytest.raises(ValueError, match="at least 31×31"):
        model(a[..., :30, :], b[..., :30, :])
    # images: uint8 → [-1, 1] as lpips.im2tensor (x / 127.5 - 1)
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (33, 35, 3), dtype=np.uint8)
    tensor = ours.to_input(Image.fromarray(arr))
    assert torch.equal(tensor, lpips_pkg.im2tensor(arr))
    other = Image.fromarray(rng.integers(0, 256, (33, 35, 3), dtype=np.uint8))
    assert model.images(Image.fromarray(arr), other) == pytest.approx(float(model(tensor, ours.to_input(other))[0]))


# --- the weights file and the search ----------------------------------------------------------------------------


def test_combined_file_round_trip_and_search_order(hub, weights_file, tmp_path, monkeypatch, capsys):
    from_parts = ours.find_lpips_weights(download=False)
    from_file = ours.find_lpips_weights(weights_file)
    assert from_file.source == "--lpips-weights" and from_file.net == "alex"
    assert from_file.backbone_sha256 == from_parts.backbone_sha256
    assert from_file.linear_sha256 == from_parts.linear_sha256
    settings = from_file.settings()
    assert settings["lpips_net"] == "alex" and settings["lpips_version"] == "0.1"
    assert len(settings["lpips_weights_sha256"]) == 64 and "lpips_weights_sha256" not in from_parts.settings()
    a, b = pairs(3, [(2, 3, 36, 36)])[0]
    assert torch.equal(ours.load_lpips(from_file)(a, b), ours.load_lpips(from_parts)(a, b))

    monkeypatch.setenv(ours.ENV_VAR, str(weights_file))
    assert ours.find_lpips_weights().source == f"${ours.ENV_VAR}"
    assert ours.find_lpips_weights(weights_file).source == "--lpips-weights"  # the option comes first
    with pytest.raises(ours.CganError, match="net alex, but --lpips-net vgg"):
        ours.find_lpips_weights(net="vgg")
    monkeypatch.setenv(ours.ENV_VAR, str(tmp_path / "nope.safetensors"))
    with pytest.raises(ours.CganError, match="no such file"):  # a named file is never silently replaced
        ours.find_lpips_weights()

    # python -m cgan_cli.metrics.lpips OUT
    monkeypatch.delenv(ours.ENV_VAR)
    out = tmp_path / "cli.safetensors"
    assert ours.main([str(out), "--no-download"]) == 0 and out.is_file()
    assert capsys.readouterr().out.strip() == str(out)
    offline(monkeypatch)
    assert ours.main([str(tmp_path / "other.safetensors"), "--no-download"]) == 1
    assert "alex.pth" in capsys.readouterr().err


def test_missing_weights_name_the_files(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    offline(monkeypatch)
    with pytest.raises(ours.CganError) as info:
        ours.find_lpips_weights()  # tries the (unreachable) download, then says what is missing and where
    message = str(info.value)
    assert "cannot download" in message and "\n" not in message
    for needle in ("alexnet-owt-7be5be79.pth", "alex.pth", str(tmp_path / "empty"), "--lpips-weights"):
        assert needle in message
    with pytest.raises(ours.CganError, match="vgg16-397923af.pth"):
        ours.find_lpips_weights(net="vgg", download=False)


def test_tampered_and_foreign_files_are_refused(hub, weights_file, tmp_path):
    data = bytearray(weights_file.read_bytes())
    tampered = tmp_path / "tampered.safetensors"
    data[-5] ^= 0x40  # a tensor byte
    tampered.write_bytes(bytes(data))
    with pytest.raises(ours.CganError, match="modified or damaged"):
        ours.load_lpips(ours.find_lpips_weights(tampered))
    data = bytearray(weights_file.read_bytes())
    at = data.index(b'"linear_sha256":"') + len(b'"linear_sha256":"')
    data[at : at + 1] = b"0" if data[at : at + 1] != b"0" else b"1"  # the metadata is covered as well
    tampered.write_bytes(bytes(data))
    with pytest.raises(ours.CganError, match="modified or damaged"):
        ours.load_lpips(ours.find_lpips_weights(tampered))

    data = bytearray(weights_file.read_bytes())
    at = data.index(b'"format_version":"') + len(b'"format_version":"')
    data[at : at + 1] = b"x"  # a damaged version is a one-line error, not a ValueError
    tampered.write_bytes(bytes(data))
    with pytest.raises(ours.CganError, match="damaged LPIPS weights metadata"):
        ours.find_lpips_weights(tampered)

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(ours.CganError, match="not an LPIPS weights file"):
        ours.find_lpips_weights(foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ours.CganError, match="not a readable .safetensors"):
        ours.find_lpips_weights(garbage)

    # .pth files: nothing but tensors is unpickled, names and shapes are checked
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Payload()}, evil)
    backbone = ours.hub_backbone_path("alex")
    with pytest.raises(ours.CganError, match="not a PyTorch state dict of tensors"):
        ours.write_lpips_weights(tmp_path / "o.safetensors", backbone=evil, download=False)
    assert not marker.exists()
    vgg_linear = ours.package_linear_path("vgg")
    with pytest.raises(ours.CganError, match=r"lin1\.model\.1\.weight has shape"):
        ours.write_lpips_weights(tmp_path / "o.safetensors", backbone=backbone, linear=vgg_linear)
    with pytest.raises(ours.CganError, match="has no features.0.weight"):
        ours.write_lpips_weights(tmp_path / "o.safetensors", backbone=vgg_linear, download=False)
    assert not (tmp_path / "o.safetensors").exists()


# --- cgan eval --lpips ------------------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args), "--device", "cpu"])


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Four pairs of 40×36 images (fake = real + noise) in nested folders; one fake without a partner."""
    root = tmp_path_factory.mktemp("lpips_eval")
    rng = np.random.default_rng(0)
    for i in range(4):
        rel = Path("sub" if i % 2 else ".") / f"{i}.png"
        real = rng.integers(0, 256, (36, 40, 3)).astype(np.int16)
        fake = (real + rng.integers(-40, 41, real.shape)).clip(0, 255)
        for side, arr in (("real", real), ("fake", fake)):
            (root / side / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr.astype(np.uint8)).save(root / side / rel)
    Image.new("RGB", (40, 36), "red").save(root / "fake" / "unpaired.png")
    return root / "real", root / "fake"


def test_cli_lpips_is_the_mean_over_pairs(hub, weights_file, folders):
    real, fake = folders
    result = run(real, fake, "--lpips", "--psnr", "--lpips-weights", weights_file, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    model = ours.load_lpips(ours.find_lpips_weights(weights_file))
    per_pair = [model.images(read_image(p, 3), read_image(fake / p.relative_to(real), 3)) for p in real.rglob("*.png")]
    assert len(per_pair) == 4
    assert data["lpips"] == pytest.approx(float(np.mean(per_pair)), rel=1e-6, abs=1e-9)
    assert data["lpips"] > 0 and data["psnr"] > 0 and "fid" not in data and "ssim" not in data
    s = data["settings"]
    assert s["lpips_net"] == "alex" and s["lpips_version"] == "0.1" and s["lpips_weights_source"] == "--lpips-weights"
    assert s["lpips_linear_sha256"] == ours.PUBLISHED["alex"].linear_sha256 and len(s["lpips_backbone_sha256"]) == 64
    assert "not the published ones" in result.stderr  # random backbone

    plain = run(real, real, "--lpips", "--lpips-weights", weights_file)
    assert plain.exit_code == 0 and plain.stdout == "lpips: 0\n"
    from_cache = run(real, fake, "--lpips", "--json")  # hub cache + lpips package
    assert from_cache.exit_code == 0 and json.loads(from_cache.stdout)["lpips"] == data["lpips"]


def test_cli_errors_are_one_line(hub, weights_file, folders, tmp_path, monkeypatch):
    real, fake = folders

    def one_error_line(result, *needles):
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        lines = [line for line in result.stderr.splitlines() if line]
        assert len(lines) == 1 and lines[0].startswith("cgan: error: "), result.stderr
        for needle in needles:
            assert needle in lines[0]

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    offline(monkeypatch)
    one_error_line(run(real, fake, "--lpips"), "alexnet-owt-7be5be79.pth", "alex.pth")
    one_error_line(run(real, fake, "--lpips", "--lpips-weights", tmp_path / "none.safetensors"), "no such file")
    bad = tmp_path / "bad.safetensors"
    data = bytearray(weights_file.read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    one_error_line(run(real, fake, "--lpips", "--lpips-weights", bad), "modified or damaged")
    one_error_line(run(real, fake, "--lpips", "--lpips-weights", real / "0.png"), "not a readable .safetensors")
    assert run(real, fake, "--lpips", "--lpips-net", "squeeze").exit_code == 2

    # a pair too small for AlexNet is named and skipped; the others still count
    small = tmp_path / "small"
    for side in ("real", "fake"):
        (small / side).mkdir(parents=True)
        for name, size in (("big", (40, 40)), ("tiny", (20, 20))):
            Image.new("RGB", size, "white" if side == "real" else "gray").save(small / side / f"{name}.png")
    result = run(small / "real", small / "fake", "--lpips", "--lpips-weights", weights_file)
    assert result.exit_code == 1 and "tiny: LPIPS (alex) needs images of at least 31×31" in result.stderr
    assert result.stdout.startswith("lpips: ")
