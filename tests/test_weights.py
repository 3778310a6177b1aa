"""cgan_cli.weights: downloads land atomically or not at all, `torch.save` files are read as tensors only, digests
stay byte-for-byte what checkpoints, LPIPS files and CLIP encoder ids have recorded, and errors are one line."""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import os
from pathlib import Path

import pytest
import torch

from cgan_cli import weights
from cgan_cli.errors import CganError
from cgan_cli.weights import WeightsError, tensor_digest

TENSORS = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a": torch.tensor([1, 2], dtype=torch.int64)}


def _one_line(exc: pytest.ExceptionInfo[CganError], *fragments: str) -> str:
    message = str(exc.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- layering ---------------------------------------------------------------------------------------------------


def test_imports_nothing_from_the_layers_above_it():
    """checkpoint.py, metrics and text all import weights.py: it must not import them back."""
    tree = ast.parse(Path(weights.__file__).read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    above = ("cgan_cli.families", "cgan_cli.metrics", "cgan_cli.text", "cgan_cli.cli", "cgan_cli.checkpoint")
    assert not [m for m in modules if m.startswith(above)], modules


# --- first_line -------------------------------------------------------------------------------------------------


def test_first_line():
    assert weights.first_line(RuntimeError("  first\nsecond\n")) == "first"
    assert weights.first_line(EOFError()) == "EOFError"
    assert weights.first_line(ValueError("   ")) == "ValueError"
    assert weights.first_line(OSError("x" * 500)) == "x" * 200


# --- finding files ----------------------------------------------------------------------------------------------


def test_file_sha256_streams_large_files(tmp_path):
    data = os.urandom((1 << 20) * 2 + 123)  # over two read chunks
    (tmp_path / "big.bin").write_bytes(data)
    assert weights.file_sha256(tmp_path / "big.bin") == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty.bin").write_bytes(b"")
    assert weights.file_sha256(tmp_path / "empty.bin") == hashlib.sha256(b"").hexdigest()


def test_given_file(tmp_path, monkeypatch):
    (tmp_path / "w.pth").write_bytes(b"x")
    assert weights.given_file(tmp_path / "w.pth", "--weights") == tmp_path / "w.pth"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights.given_file(Path("~/w.pth"), "--weights") == tmp_path / "w.pth"
    with pytest.raises(WeightsError) as info:
        weights.given_file(tmp_path / "gone.pth", "--weights")
    assert _one_line(info) == f"--weights {tmp_path / 'gone.pth'}: no such file"
    with pytest.raises(WeightsError) as info:
        weights.given_file(tmp_path, "$CGAN_X", sep="=")
    assert _one_line(info) == f"$CGAN_X={tmp_path}: not a file"
    with pytest.raises(CganError):  # what commands turn into a one-line error
        weights.given_file(Path("~/gone"), "--weights")


def test_hub_dir_follows_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert weights.hub_dir() == tmp_path / "th" / "hub" / "checkpoints"


def test_package_file_is_found_without_importing_the_package(tmp_path, monkeypatch):
    (tmp_path / "pkg" / "weights").mkdir(parents=True)
    (tmp_path / "pkg" / "weights" / "w.pth").write_bytes(b"x")
    spec = importlib.machinery.ModuleSpec("somepkg", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path / "pkg")]
    monkeypatch.setattr(weights, "find_spec", lambda name: spec if name == "somepkg" else None)
    assert weights.package_file("somepkg", "weights/w.pth") == tmp_path / "pkg" / "weights" / "w.pth"
    assert weights.package_file("somepkg", "weights/other.pth") is None
    assert weights.package_file("otherpkg", "weights/w.pth") is None

    def broken(name: str) -> None:
        raise ValueError("somepkg.__spec__ is None")

    monkeypatch.setattr(weights, "find_spec", broken)
    assert weights.package_file("somepkg", "weights/w.pth") is None


# --- downloads --------------------------------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path) -> tuple[str, bytes]:
    data = b"some weights" * 100
    (tmp_path / "source.bin").write_bytes(data)
    return (tmp_path / "source.bin").as_uri(), data


def test_download_from_a_file_url(tmp_path, source):
    url, data = source
    dest = tmp_path / "cache" / "w.pth"
    assert weights.download_file(url, dest, sha256=hashlib.sha256(data).hexdigest()) == dest
    assert dest.read_bytes() == data and os.listdir(dest.parent) == ["w.pth"]  # no temp file left beside it
    prefix = hashlib.sha256(data).hexdigest()[:8]
    assert weights.download_file(url, tmp_path / "cache" / "p.pth", prefix=prefix).read_bytes() == data


def test_hash_mismatch_leaves_no_file_and_keeps_the_old_one(tmp_path, source):
    url, _ = source
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError) as info:
        weights.download_file(url, cache / "w.pth", sha256="0" * 64)
    assert _one_line(info, url, "SHA-256 mismatch") and info.value.reason == str(info.value)
    assert not cache.exists() or os.listdir(cache) == []
    (cache / "old.pth").write_bytes(b"old")
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        weights.download_file(url, cache / "old.pth", sha256="0" * 64)
    assert (cache / "old.pth").read_bytes() == b"old" and os.listdir(cache) == ["old.pth"]


def test_hash_prefix_mismatch_and_missing_urls_leave_no_file(tmp_path, source):
    url, _ = source
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError) as info:
        weights.download_file(url, cache / "w.pth", prefix="00000000")
    assert _one_line(info, "cannot download", url, "invalid hash value")
    assert info.value.reason.startswith("invalid hash value")
    missing = (tmp_path / "nope.bin").as_uri()
    with pytest.raises(WeightsError) as info:
        weights.download_file(missing, cache / "w.pth")
    _one_line(info, "cannot download", missing)
    assert os.listdir(cache) == []


def test_a_failing_opener_leaves_nothing(tmp_path, monkeypatch):
    def half_then_fail(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        Path(dst).write_bytes(b"half")
        raise OSError("connection reset\nby peer")

    monkeypatch.setattr(torch.hub, "download_url_to_file", half_then_fail)
    with pytest.raises(WeightsError) as info:
        weights.download_file("https://example.invalid/w.pth", tmp_path / "w.pth")
    assert info.value.reason == "connection reset"
    assert os.listdir(tmp_path) == []


# --- reading ----------------------------------------------------------------------------------------------------


class _RunsCode:
    """Unpickling this would call os.mkdir: what weights_only exists to refuse."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_read_state_dict(tmp_path):
    torch.save(TENSORS, tmp_path / "good.pth")
    loaded = weights.read_state_dict(tmp_path / "good.pth")
    assert set(loaded) == {"a", "b"} and torch.equal(loaded["b"], TENSORS["b"]) and loaded["b"].device.type == "cpu"


def test_a_pickle_that_runs_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"w": torch.zeros(1), "x": _RunsCode(marker)}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError) as info:
        weights.read_state_dict(tmp_path / "evil.pth")
    _one_line(info, str(tmp_path / "evil.pth"), "not a PyTorch state dict of tensors (")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("write", "parenthesised"),
    [
        (lambda path: path.write_bytes(b""), True),
        (lambda path: path.write_bytes(b"not a checkpoint at all"), True),
        (lambda path: torch.save([torch.zeros(1)], path), False),  # readable, but a list
        (lambda path: torch.save({"w": torch.zeros(1), "step": 3}, path), False),  # readable, but not only tensors
    ],
    ids=["empty", "garbage", "list", "not-only-tensors"],
)
def test_what_is_not_a_dict_of_tensors_is_refused(tmp_path, write, parenthesised):
    write(tmp_path / "w.pth")
    with pytest.raises(WeightsError) as info:
        weights.read_state_dict(tmp_path / "w.pth")
    message = _one_line(info, f"{tmp_path / 'w.pth'}: not a PyTorch state dict of tensors")
    assert message.endswith(")") == parenthesised  # the reason torch.load gave, when it refused to read


def test_read_torch_file_allows_plain_containers(tmp_path):
    torch.save({"state_dict": TENSORS, "epoch": 3}, tmp_path / "ckpt.pt")
    loaded = weights.read_torch_file(tmp_path / "ckpt.pt")
    assert loaded["epoch"] == 3 and torch.equal(loaded["state_dict"]["a"], TENSORS["a"])


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_is_torchscript(tmp_path):
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "script.pt"))
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "state.pth")
    (tmp_path / "garbage.pt").write_bytes(b"PK\x03\x04 not really a zip")
    assert weights.is_torchscript(tmp_path / "script.pt")
    assert not weights.is_torchscript(tmp_path / "state.pth")
    assert not weights.is_torchscript(tmp_path / "garbage.pt")
    assert not weights.is_torchscript(tmp_path / "absent.pt")


# --- digests ----------------------------------------------------------------------------------------------------


def _reference_digest(tensors: dict[str, torch.Tensor], head: bytes, header: str) -> str:
    """The layout written out by hand: head, then per sorted name its header and its raw bytes."""
    h = hashlib.sha256(head)
    for key in sorted(tensors):
        t = tensors[key]
        h.update(header.format(key=key, dtype=t.dtype, shape=tuple(t.shape)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def test_digests_are_pinned():
    """Checkpoints, combined LPIPS files and CLIP encoder ids on disk hold these: they must never change."""
    assert tensor_digest(TENSORS) == "198060ce3a879088e4c0c04808ad8f1cc626b63a2898368bd75687479446a776"
    lpips = tensor_digest(TENSORS, head=b"x", entry="|{key}|{dtype}|{shape}|")
    assert lpips == "038b9dd1bd970b9e11a49c152caa578f18791fd4805349743fa2b509b3bf909f"
    clip = tensor_digest(TENSORS, entry="{key}|{dtype}|{shape}")
    assert clip == "65afb20f4d62590aaa00d2bcd34ed288802b68b3fd5a941c383b330a2edbbb97"
    assert tensor_digest(TENSORS) == _reference_digest(TENSORS, b"", "{key}|{dtype}|{shape}|")
    assert lpips == _reference_digest(TENSORS, b"x", "|{key}|{dtype}|{shape}|")


def test_digest_sees_names_dtypes_shapes_and_values_but_not_order_or_layout():
    base = tensor_digest(TENSORS)
    assert tensor_digest(dict(reversed(list(TENSORS.items())))) == base
    assert tensor_digest({**TENSORS, "b": TENSORS["b"].t().contiguous().t()}) == base  # a strided copy
    changed = [
        {**TENSORS, "b": TENSORS["b"].double()},
        {**TENSORS, "b": TENSORS["b"].reshape(3, 2)},
        {**TENSORS, "b": TENSORS["b"] + 1},
        {"c": TENSORS["b"], "a": TENSORS["a"]},
    ]
    assert len({base, *(tensor_digest(t) for t in changed)}) == 1 + len(changed)
    assert tensor_digest(TENSORS, ["a"]) == tensor_digest({"a": TENSORS["a"]})
    assert tensor_digest(TENSORS, head=b"meta") != base


def test_digest_of_a_half_precision_and_a_scalar_tensor():
    tensors = {"h": torch.tensor([1.5, -2.0], dtype=torch.bfloat16), "s": torch.tensor(3.0)}
    assert tensor_digest(tensors) == tensor_digest({k: v.clone() for k, v in tensors.items()})
    assert tensor_digest(tensors) != tensor_digest({**tensors, "h": tensors["h"].half()})
