"""`cgan info`: what a checkpoint or export is, checked against the files themselves (tensor shapes read
with safetensors, configs against each family's defaults), with verified digests and one-line errors."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from math import prod
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from helpers_cli import error_lines, ok, one_line_error
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner, Result

from cgan_cli.checkpoint import read_metadata
from cgan_cli.cli import app
from cgan_cli.config import to_dict
from cgan_cli.families import FAMILIES, create
from cgan_cli.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
LEGACY = Path(__file__).parent / "legacy"
FAMILY_NAMES = ("acgan", "cgan", "cyclegan", "dcgan", "gancls", "gigagan", "pix2pix", "stargan")
KEYS = {
    "path", "format", "kind", "training", "verified", "bytes", "family", "known_family", "summary", "makes", "step",
    "epoch", "config", "changed", "defaults", "image_size", "channels", "input_channels", "labels", "text_encoder",
    "parameters", "tensor_groups", "export", "versions", "format_version",
}  # fmt: skip


def cgan(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def records(*args: str, stdin: str | None = None) -> list[dict]:
    return [json.loads(line) for line in ok(cgan("info", "--json", *args, stdin=stdin))]


def tensor_table(path: Path) -> dict[str, tuple[int, str]]:
    """key → (element count, dtype), from the safetensors header alone."""
    with safe_open(str(path), framework="pt") as f:
        table = {}
        for key in f.keys():
            piece = f.get_slice(key)
            table[key] = (prod(piece.get_shape()), piece.get_dtype())
    return table


def net_parameters(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, (numel, _) in tensor_table(path).items():
        if key.startswith("net/"):
            net = key.split("/")[1]
            counts[net] = counts.get(net, 0) + numel
    return counts


def tamper(src: Path, dst: Path) -> Path:
    """A copy of `src` with one byte of a generator tensor flipped (the header and metadata untouched)."""
    data = bytearray(src.read_bytes())
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    key = next(k for k, v in header.items() if k.startswith("net/G/") and v["data_offsets"][1] > v["data_offsets"][0])
    data[8 + size + header[key]["data_offsets"][0]] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


# --- checkpoints ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_a_checkpoint_of_every_family_is_described_from_its_own_tensors(family):
    path = LEGACY / f"{family}.safetensors"
    (record,) = records(str(path))
    assert KEYS <= set(record)
    meta = read_metadata(path)
    config = json.loads(meta["config"])
    assert record["family"] == family and record["makes"] == FAMILIES[family].makes
    assert (record["step"], record["epoch"]) == (int(meta["step"]), int(meta["epoch"]))
    assert record["kind"] == "training checkpoint" and record["training"] and record["verified"]
    assert record["parameters"] == net_parameters(path) and min(record["parameters"].values()) > 0
    table = tensor_table(path)
    group_of = {k: "/".join(k.split("/")[:2]) for k in table}  # net/G/x.weight → net/G; rng/torch is its own
    assert set(record["tensor_groups"]) == set(group_of.values()) and "optim/G" in record["tensor_groups"]
    for group, stats in record["tensor_groups"].items():
        mine = [v for k, v in table.items() if group_of[k] == group]
        assert stats["tensors"] == len(mine) and stats["elements"] == sum(n for n, _ in mine)
    assert record["versions"]["cgan"] == meta["cgan_version"] and record["format_version"] == 1
    assert record["config"] == config and record["bytes"] == path.stat().st_size
    assert record["image_size"] == config.get("image_size", config.get("crop_size"))
    names = config.get("class_names") or config.get("domain_names")
    assert (record["labels"] or {}).get("names") == (names or None)
    if FAMILIES[family].makes == "text":
        assert record["text_encoder"]["sha256"] == config["text_encoder"]["sha256"]
        assert record["channels"] == 3
    else:
        assert record["text_encoder"] is None


def test_a_trained_checkpoint_lists_the_options_it_changed_first(demo_dir, tmp_path):
    cfg = tiny_config(demo_dir, steps=2, lambda_l1=50.0)
    with torch.random.fork_rng():
        path = Trainer(create("pix2pix", cfg, torch.device("cpu")), tmp_path / "run").fit()
    defaults = to_dict(FAMILIES["pix2pix"].Config())
    saved = json.loads(read_metadata(path)["config"])
    changed = {k for k, v in saved.items() if json.dumps(v) != json.dumps(defaults[k])}
    assert {"lambda_l1", "steps", "ngf", "crop_size"} <= changed and "beta1" not in changed

    (record,) = records(str(path))
    assert record["family"] == "pix2pix" and record["step"] == 2
    assert record["parameters"] == net_parameters(path)
    assert set(record["changed"]) == changed and list(record["config"])[: len(changed)] == record["changed"]
    assert record["defaults"]["lambda_l1"] == 100.0

    lines = ok(cgan("info", str(path)))
    assert lines[0].split(None, 1) == ["file:", str(path)]
    start = next(i for i, line in enumerate(lines) if line.startswith("config:"))
    options = lines[start + 1 :]
    assert len(options) == len(saved) and all(line.startswith("  ") for line in options)
    names = [line.split(":")[0].strip() for line in options]
    assert set(names[: len(changed)]) == changed and set(names[len(changed) :]) == set(saved) - changed
    assert "50.0  (default 100.0)" in options[names.index("lambda_l1")]
    assert not any("(default" in line for line in options[len(changed) :])
    assert next(line for line in lines if line.startswith("parameters G:")).endswith(
        f"{record['parameters']['G']:,}"
    )  # fmt: skip
    column = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines if not line.startswith(" ")}
    assert len(column) == 1, "values start in one column"


def test_several_files_and_stdin_give_one_block_or_json_line_each():
    paths = [str(LEGACY / "pix2pix.safetensors"), str(LEGACY / "dcgan.safetensors")]
    lines = ok(cgan("info", *paths))
    files = [line.split(None, 1)[1] for line in lines if line.startswith("file:")]
    assert files == paths and lines.count("") == 1  # one block each, a blank line between
    got = records("-", stdin=f"{paths[0]}\n\n  {paths[1]}  \n")
    assert [r["family"] for r in got] == ["pix2pix", "dcgan"]
    assert "\x1b[" not in "".join(lines), "no colour on stdout"


# --- bad files ---------------------------------------------------------------------------------------------------


def test_a_tampered_file_is_one_error_and_the_good_one_is_still_described(tmp_path):
    good = LEGACY / "cgan.safetensors"
    bad = tamper(LEGACY / "pix2pix.safetensors", tmp_path / "tampered.safetensors")
    for args in (["info", str(bad), str(good)], ["info", "--json", str(bad), str(good)]):
        result = cgan(*args)
        assert result.exit_code == 1
        (line,) = error_lines(result)
        assert str(bad) in line and "checksum mismatch in net/G" in line
        assert str(good) in result.stdout and str(bad) not in result.stdout
    assert one_line_error(cgan("info", str(bad)), 1).startswith(f"cgan: error: {bad}: ")
    assert one_line_error(cgan("info", "--quiet", str(good), str(bad)), 1).startswith(f"cgan: error: {bad}: ")
    assert ok(cgan("info", "-q", str(good))) == []  # checked, and silent


def test_a_file_with_a_tensor_group_removed_is_refused(tmp_path):
    """The metadata (and its checksum) untouched, the tensors of net/D gone: the digest table still names it."""
    src = LEGACY / "pix2pix.safetensors"
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
        kept = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("net/D/")}
    save_file(kept, str(tmp_path / "cut.safetensors"), metadata=meta)
    line = one_line_error(cgan("info", str(tmp_path / "cut.safetensors")), 1)
    assert "tensors of net/D are missing" in line


def test_foreign_empty_and_missing_files_are_one_line_each(tmp_path):
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with zipfile.ZipFile(tmp_path / "model.pt", "w") as archive:
        archive.writestr("model/data.pkl", b"not read")
    (tmp_path / "garbage.onnx").write_bytes(b"\xff\xfe not protobuf \x00" * 8)
    cases = {
        "empty.safetensors": "an empty file",
        "empty.onnx": "an empty file",
        "notes.txt": "not a readable .safetensors checkpoint",
        "foreign.safetensors": "not a cgan checkpoint",
        "model.pt": "not a cgan TorchScript export",
        "missing.safetensors": "no such checkpoint file",
        ".": "no such checkpoint file",
        "garbage.onnx": "ONNX",  # not a readable ONNX file, or (without the extra) how to install it
    }
    for name, expected in cases.items():
        line = one_line_error(cgan("info", str(tmp_path / name)), 1)
        assert str(tmp_path / name) in line and expected in line, line
    result = cgan("info", *(str(tmp_path / name) for name in cases))
    assert result.exit_code == 1 and len(error_lines(result)) == len(cases) and result.stdout == ""


def test_no_paths_on_stdin_and_no_arguments():
    assert one_line_error(cgan("info", "-", stdin=""), 1).endswith("no files to describe (stdin held no paths)")
    assert cgan("info").exit_code == 2


# --- exports ------------------------------------------------------------------------------------------------------


def _has_onnx() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Exports of the committed 0.1.0 checkpoints, made by `cgan export` (which checks each one)."""
    root = tmp_path_factory.mktemp("info_exports")
    wanted = {"safetensors": ("gancls", "small.safetensors"), "torchscript": ("pix2pix", "p2p.pt")}
    if _has_onnx():
        wanted["onnx"] = ("dcgan", "dcgan.onnx")
    made = {}
    for fmt, (family, name) in wanted.items():
        assert ok(cgan("export", str(LEGACY / f"{family}.safetensors"), "--out", str(root / name))) == [
            str(root / name)
        ]  # fmt: skip
        made[fmt] = root / name
    return made


def refuse(*_args, **_kwargs):
    raise AssertionError("cgan info must not load or run the file it describes")


def test_an_inference_only_export_is_reported_as_such(exports):
    path = exports["safetensors"]
    (record,) = records(str(path))
    assert record["kind"] == "inference-only export" and not record["training"] and record["verified"]
    assert record["export"]["source_step"] == 2 and record["export"]["groups"] == ["net/G"]
    assert set(record["tensor_groups"]) == {"net/G"} and record["parameters"] == net_parameters(path)
    assert record["text_encoder"]["sha256"] == json.loads(read_metadata(path)["config"])["text_encoder"]["sha256"]
    lines = ok(cgan("info", str(path)))
    assert any(line.startswith("kind:") and "inference-only export" in line for line in lines)


def test_a_torchscript_export_is_read_without_loading_its_program(exports, monkeypatch):
    monkeypatch.setattr(torch.jit, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    (record,) = records(str(exports["torchscript"]))
    legacy = json.loads(read_metadata(LEGACY / "pix2pix.safetensors")["config"])
    assert record["format"] == "torchscript" and record["kind"] == "TorchScript export"
    assert record["family"] == "pix2pix" and record["step"] == 2 and record["config"] == legacy
    assert record["export"]["weights"] == "G" and record["export"]["dtype"] == "float32"
    assert [i["name"] for i in record["export"]["inputs"]] == ["image"]
    assert record["export"]["tensors"] > 0 and record["verified"] and not record["training"]
    text = ok(cgan("info", str(exports["torchscript"])))
    assert any(line.startswith("kind:") and "TorchScript export" in line for line in text)
    assert any(line.startswith("verified:") and "SHA-256" in line for line in text)


def rewrite_zip(src: Path, dst: Path, change) -> None:
    """`dst`: `src`'s members, each passed through change(name, bytes)."""
    import zipfile

    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, change(info.filename, old.read(info)))


@pytest.mark.parametrize("part", ["a weight", "the program", "the metadata"])
def test_a_tampered_torchscript_export_is_refused(exports, tmp_path, part):
    """The export's digest covers its tensors, its code and cgan.json: any changed byte is one error line."""

    def change(name: str, data: bytes) -> bytes:
        if part == "a weight" and name.endswith("/data/0"):
            return bytes([data[0] ^ 0x01]) + data[1:]
        if part == "the program" and name.endswith(".py") and "/code/" in name:
            return data + b"\n# edited\n"
        if part == "the metadata" and name.endswith("extra/cgan.json"):
            return data.replace(b'"cgan.step": "2"', b'"cgan.step": "3"')
        return data

    tampered = tmp_path / "tampered.pt"
    rewrite_zip(exports["torchscript"], tampered, change)
    assert tampered.read_bytes() != exports["torchscript"].read_bytes()
    line = one_line_error(cgan("info", str(tampered)), 1)
    assert "checksum mismatch" in line and "modified or damaged" in line
    untouched = tmp_path / "same.pt"
    rewrite_zip(exports["torchscript"], untouched, lambda name, data: data)  # re-zipped, same contents: still good
    assert records(str(untouched))[0]["verified"]


def test_an_onnx_export_is_read_without_running_it(exports, monkeypatch):
    if "onnx" not in exports:
        pytest.skip("the onnx extra is not installed")
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    monkeypatch.setattr(torch.jit, "load", refuse)
    (record,) = records(str(exports["onnx"]))
    assert record["format"] == "onnx" and record["family"] == "dcgan" and record["step"] == 2
    assert record["export"]["opset"] == 18 and record["export"]["weights"] == "G_ema"
    assert record["export"]["elements"] > 0 and record["makes"] == "samples"
    assert [i["name"] for i in record["export"]["inputs"]] == ["z", "truncation"]
    assert record["verified"]


def test_a_tampered_onnx_export_is_refused(exports, tmp_path):
    if "onnx" not in exports:
        pytest.skip("the onnx extra is not installed")
    import onnx

    model = onnx.load(str(exports["onnx"]))
    weight = next(t for t in model.graph.initializer if t.raw_data)
    weight.raw_data = bytes([weight.raw_data[0] ^ 0x01]) + weight.raw_data[1:]
    onnx.save(model, str(tmp_path / "weight.onnx"))
    model = onnx.load(str(exports["onnx"]))
    step = next(p for p in model.metadata_props if p.key == "cgan.step")
    step.value = "3"
    onnx.save(model, str(tmp_path / "meta.onnx"))
    for name in ("weight.onnx", "meta.onnx"):
        assert "checksum mismatch" in one_line_error(cgan("info", str(tmp_path / name)), 1)


def test_onnx_without_the_extra_says_how_to_install_it(exports, monkeypatch, tmp_path):
    path = exports.get("onnx") or (tmp_path / "x.onnx")
    path.touch()
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    line = one_line_error(cgan("info", str(path)), 1)
    assert "pip install 'cgan-cli[onnx]'" in line


def test_info_help_imports_neither_torch_nor_the_service():
    """`cgan info --help` stays fast: the command module defers the service (and torch) to the command's run."""
    code = (
        "import sys; from cgan_cli.cli import main; sys.argv = ['cgan', 'info', '--help']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "heavy = [m for m in ('torch', 'numpy', 'cgan_cli.inspection') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout and "--quiet" in result.stdout
