"""`cgan export`: every family's generator as ONNX, TorchScript and inference-only safetensors, each file run
by its own runtime and compared with what cgan's own commands make from the checkpoint."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_thread, tiny_family_config
from helpers_cli import ok, one_line_error, pixels
from PIL import Image
from typer.testing import CliRunner, Result

from cgan_cli import export as export_module
from cgan_cli.checkpoint import load_checkpoint, save_checkpoint
from cgan_cli.cli import app
from cgan_cli.families import FAMILIES, ExportOptions, family_class
from cgan_cli.text.clip import load_text_encoder, spec_from_record
from cgan_cli.text.features import pad
from cgan_cli.trainer import Trainer

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed")

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")
# the exported graphs are fp32, so translate runs fp32 beside them (`auto` is bf16 on CPUs with bf16 units)
FP32 = ("--precision", "fp32")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}


def cgan(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


# --- fixtures: a checkpoint of every family, trained two steps (so EMA and G differ, and Adam has state) ----

# Two steps leave DCGAN-initialised generators (N(0, 0.02)) nearly constant; scaled up, every input visibly
# changes the output, so a graph that ignored one (the label, ψ, the text) could not pass the comparisons.
WAKE = {"dcgan": 4.0, "cgan": 4.0, "acgan": 4.0, "infogan": 8.0, "pix2pix": 3.0, "gancls": 3.0, "bicyclegan": 10.0}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path, classes_dir: Path, captions_dir: Path):
    root = tmp_path_factory.mktemp("export_runs")
    made: dict[str, Path] = {}
    for name in sorted(FAMILIES):
        cfg = tiny_family_config(name, demo_dir, classes_dir, captions_dir=captions_dir)
        cfg = dataclasses.replace(cfg, steps=2, save_every=1000, sample_every=1000)
        if name == "cgan":
            cfg = dataclasses.replace(cfg, ema=0.5)
        with torch.random.fork_rng(), one_thread():
            trained = load_checkpoint(Trainer(family_class(name)(cfg, CPU), root / name).fit())
        for key, value in trained.tensors.items():
            if key.startswith("net/G") and value.is_floating_point() and value.ndim >= 2:
                trained.tensors[key] = value * (50.0 if key.endswith("embed.weight") else WAKE.get(name, 1.0))
        made[name] = save_checkpoint(root / name / "woken.safetensors", trained)
    return made


def changed(spec: export_module.GraphInput, x: torch.Tensor) -> torch.Tensor:
    """`x` with every element different in a way the input's kind allows."""
    if spec.kind == "index":
        return (x + 1) % spec.high
    if spec.kind == "binary":
        return 1 - x
    if spec.kind == "mask":  # two real tokens only
        return torch.zeros_like(x).index_fill_(1, torch.tensor([0, 1]), True)
    if spec.kind == "scalar":
        return x * 0.5
    sizes = {d.name: x.shape[k] for k, d in enumerate(spec.shape) if isinstance(d, export_module.Axis)}
    return export_module.draw(spec, sizes, x.dtype, torch.Generator().manual_seed(99))


def export(ckpt: Path, out: Path, *args: str) -> dict:
    lines = ok(cgan("export", str(ckpt), "--out", str(out), "--json", *args))
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert Path(record["path"]) == out and out.is_file()
    return record


# --- every family, every format -------------------------------------------------------------------------------


def _onnx_run(path: Path):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda *xs: torch.from_numpy(session.run(None, {n: x.numpy() for n, x in zip(names, xs)})[0])


def _torchscript_run(path: Path):
    module = torch.jit.load(str(path))

    def run(*xs: torch.Tensor) -> torch.Tensor:
        out = module(*xs)  # outside no_grad, as a user would call it: the weights must not require grad
        assert not out.requires_grad
        return out

    return run


SLOW_EXPORTS = {("gigagan", "onnx"), ("spade", "onnx")}  # 20 s and 14 s alone


@pytest.mark.parametrize(
    "family,fmt",
    [
        pytest.param(f, fmt, marks=[pytest.mark.slow] if (f, fmt) in SLOW_EXPORTS else [])
        for f in sorted(FAMILIES)
        for fmt in ("onnx", "torchscript", "safetensors")
    ],
)
def test_every_family_exports_and_the_file_reproduces_the_generator(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, fmt: str
) -> None:
    ckpt = checkpoints[family]
    out = tmp_path / f"g{SUFFIX[fmt]}"
    record = export(ckpt, out)
    assert record["format"] == fmt and record["family"] == family and record["dtype"] == "float32"
    assert record["max_error"] <= 1e-3 and record["checks"] == 2
    has_ema = any(k.startswith("net/G_ema/") for k in load_checkpoint(ckpt).tensors)
    assert record["weights"] == {"cyclegan": "G_A"}.get(family, "G_ema" if has_ema else "G")

    # the reference: the family's own generator graph, fed inputs of a batch size (3) and, for fully
    # convolutional generators, an image size the export was not traced with
    cls = family_class(family)
    graph = cls.export_graph(load_checkpoint(ckpt), ExportOptions())
    sizes = {"batch": 3, "height": 96, "width": 64} if family in ("pix2pix", "cyclegan", "stargan") else {"batch": 3}
    gen = torch.Generator().manual_seed(7)
    inputs = [export_module.draw(i, sizes, torch.float32, gen) for i in graph.inputs]
    with torch.no_grad():
        expected = graph.module(*inputs)
        for i, spec in enumerate(graph.inputs):  # each input matters, far beyond the tolerance below
            other = graph.module(*[changed(spec, x) if j == i else x for j, x in enumerate(inputs)])
            assert (other - expected).abs().max().item() > 0.05, f"{family}: {spec.name} barely changes the output"
    if fmt == "onnx":
        got = _onnx_run(out)(*inputs)
    elif fmt == "torchscript":
        got = _torchscript_run(out)(*inputs)
    else:
        got = cls.export_graph(load_checkpoint(out), ExportOptions()).module(*inputs)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-3


# --- what the exported graphs mean: the same images as cgan's own commands --------------------------------


def _write_rgb(path: Path, height: int, width: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def _as_tensor(path: Path) -> torch.Tensor:
    return torch.from_numpy(pixels(path).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def _as_pixels(image: torch.Tensor) -> np.ndarray:
    return ((image[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().numpy().astype(np.int16)


@pytest.mark.parametrize("fmt,direction", [("onnx", "BtoA"), ("torchscript", "AtoB")])
def test_an_exported_cyclegan_translates_like_cgan_translate(
    checkpoints: dict[str, Path], tmp_path: Path, fmt: str, direction: str
) -> None:
    """A 64×96 photo (not the 32×32 training crop) through the chosen direction, against `cgan translate`."""
    record = export(checkpoints["cyclegan"], tmp_path / f"g{SUFFIX[fmt]}", "--direction", direction)
    assert record["weights"] == ("G_B" if direction == "BtoA" else "G_A")
    photo = _write_rgb(tmp_path / "photo.png", 64, 96, 1)
    [written] = ok(cgan("translate", str(checkpoints["cyclegan"]), str(photo), "--out", str(tmp_path / "t"),
                        "--direction", direction, "--device", "cpu", *FP32))  # fmt: skip
    run = _onnx_run(Path(record["path"])) if fmt == "onnx" else _torchscript_run(Path(record["path"]))
    with torch.no_grad():
        ours = _as_pixels(run(_as_tensor(photo)))
    assert np.abs(ours - pixels(written)).max() <= 1


def test_an_exported_pix2pix_translates_like_cgan_translate(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    record = export(checkpoints["pix2pix"], tmp_path / "g.onnx")
    photo = _write_rgb(tmp_path / "photo.png", 96, 64, 2)
    [written] = ok(cgan("translate", str(checkpoints["pix2pix"]), str(photo), "--out", str(tmp_path / "t"),
                        "--device", "cpu", *FP32))  # fmt: skip
    assert np.abs(_as_pixels(_onnx_run(Path(record["path"]))(_as_tensor(photo))) - pixels(written)).max() <= 1


def test_an_exported_stargan_takes_the_target_labels(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    ckpt = checkpoints["stargan"]
    record = export(ckpt, tmp_path / "g.pt")
    domains = family_class("stargan").config_from(load_checkpoint(ckpt, groups=())).domain_names
    photo = _write_rgb(tmp_path / "photo.png", 32, 32, 3)
    run = _torchscript_run(Path(record["path"]))
    for index, domain in enumerate(domains):
        [written] = ok(cgan("translate", str(ckpt), str(photo), "--out", str(tmp_path / domain), "--to", domain,
                            "--device", "cpu", *FP32))  # fmt: skip
        labels = torch.nn.functional.one_hot(torch.tensor([index]), len(domains)).float()
        assert np.abs(_as_pixels(run(_as_tensor(photo), labels)) - pixels(written)).max() <= 1


def test_an_exported_class_generator_samples_like_cgan_sample(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """z from the seed as the metadata says, the class index, ψ: the same image as `cgan sample`."""
    ckpt = checkpoints["cgan"]
    record = export(ckpt, tmp_path / "g.onnx")
    assert record["weights"] == "G_ema"
    model = onnx.load(record["path"])
    meta = {p.key: p.value for p in model.metadata_props}
    z_dim = json.loads(meta["cgan.inputs"])[0]["shape"][1]
    classes = json.loads(meta["cgan.classes"])
    run = _onnx_run(Path(record["path"]))
    for seed, label in [(5, 1), (11, 0)]:
        [written] = ok(cgan("sample", str(ckpt), "--out", str(tmp_path / f"s{seed}"), "--seeds", str(seed),
                            "--class", classes[label], "--truncation", "0.7", "--device", "cpu"))  # fmt: skip
        z = torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))[None]
        image = run(z, torch.tensor([label]), torch.tensor([0.7]))
        assert np.abs(_as_pixels(image) - pixels(written)).max() <= 1


@pytest.mark.parametrize("family", ["gancls", "gigagan"])
def test_an_exported_text_generator_draws_like_text2img(checkpoints: dict[str, Path], tmp_path: Path,
                                                        family: str) -> None:  # fmt: skip
    """The prompt enters as the CLIP features of the encoder the metadata names: encode it, feed the graph."""
    ckpt = checkpoints[family]
    record = export(ckpt, tmp_path / "g.pt")
    extra = {"cgan.json": ""}
    torch.jit.load(record["path"], _extra_files=extra)
    meta = json.loads(extra["cgan.json"])
    encoder = load_text_encoder(spec_from_record(json.loads(meta["cgan.text_encoder"])), CPU)
    prompt = "a red circle"
    text = pad(encoder.encode([prompt]), encoder.context_length)
    [written] = ok(cgan("text2img", str(ckpt), prompt, "--out", str(tmp_path / "t"), "--seeds", "3",
                        "--truncation", "0.8", "--device", "cpu"))  # fmt: skip
    z_dim = json.loads(meta["cgan.inputs"])[0]["shape"][1]
    z = torch.randn(z_dim, generator=torch.Generator().manual_seed(3))[None]
    features = (text.pooled,) if family == "gancls" else (text.tokens, text.mask)
    image = _torchscript_run(Path(record["path"]))(z, *features, torch.tensor([0.8]))
    assert np.abs(_as_pixels(image) - pixels(written)).max() <= 1


# --- the files' self-description ------------------------------------------------------------------------------


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_onnx_files_name_their_inputs_and_describe_the_model(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    record = export(checkpoints["pix2pix"], tmp_path / "p.onnx")
    model = onnx.load(record["path"])
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    [image] = model.graph.input
    [output] = model.graph.output
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert image.name == "image" and dims == ["batch", 3, "height", "width"]
    assert [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim] == dims
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["cgan.family"] == "pix2pix" and meta["cgan.weights"] == "G" and meta["cgan.opset"] == "18"
    assert json.loads(meta["cgan.image_stats"]) is False
    assert not any(node.metadata_props for node in model.graph.node)  # no stack traces with this machine's paths
    assert json.loads(meta["cgan.config"]) == load_checkpoint(checkpoints["pix2pix"], groups=()).config
    [spec] = json.loads(meta["cgan.inputs"])
    assert "[-1, 1]" in spec["meaning"] and "multiples of 32" in spec["meaning"]

    text = onnx.load(export(checkpoints["gancls"], tmp_path / "t.onnx")["path"])
    names = [i.name for i in text.graph.input]
    assert names == ["z", "text_embedding", "truncation"]
    meta = {p.key: p.value for p in text.metadata_props}
    encoder = json.loads(meta["cgan.text_encoder"])
    assert encoder["model"] == "cgan-tiny" and len(encoder["sha256"]) == 64


def test_torchscript_runs_without_cgan_installed(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """A second interpreter in which `import cgan_cli` fails loads the file and gives the same output."""
    path = export(checkpoints["stargan"], tmp_path / "s.pt")["path"]
    x = torch.rand(2, 3, 40, 48) * 2 - 1
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])[:, : len(json.loads(_ts_meta(path)["cgan.domains"]))]
    torch.save({"x": x, "labels": labels}, tmp_path / "in.pt")
    script = (
        "import sys; sys.modules['cgan_cli'] = None\n"
        "import torch\n"
        "try:\n    import cgan_cli\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('cgan_cli importable')\n"
        f"m = torch.jit.load({path!r}); d = torch.load({str(tmp_path / 'in.pt')!r})\n"
        f"torch.save(m(d['x'], d['labels']), {str(tmp_path / 'out.pt')!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with torch.no_grad():
        expected = torch.jit.load(path)(x, labels)
    assert torch.allclose(torch.load(tmp_path / "out.pt"), expected, atol=1e-6)


def _ts_meta(path: str) -> dict:
    extra = {"cgan.json": ""}
    torch.jit.load(path, _extra_files=extra)
    return json.loads(extra["cgan.json"])


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_fp16_exports_are_half_the_size_and_close(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    full = export(checkpoints["cyclegan"], tmp_path / "c.onnx")
    half = export(checkpoints["cyclegan"], tmp_path / "c16.onnx", "--fp16")
    assert half["dtype"] == "float16" and half["bytes"] < 0.6 * full["bytes"]
    session = ort.InferenceSession(half["path"], providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float16)"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    a = _onnx_run(Path(full["path"]))(x)
    b = torch.from_numpy(session.run(None, {"image": x.half().numpy()})[0]).float()
    assert b.dtype == torch.float32 and 0 < (a - b).abs().max() <= 0.1


# --- inference-only safetensors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "family,command",
    [
        ("cgan", ["sample", "--seeds", "0-3", "--class", "all"]),
        ("pix2pix", ["translate", "PHOTO"]),
        ("cyclegan", ["translate", "PHOTO", "--direction", "BtoA"]),
        ("stargan", ["translate", "PHOTO", "--to", "all"]),
        ("gigagan", ["text2img", "a blue square", "-n", "2"]),
    ],
)
def test_inference_commands_open_a_safetensors_export_like_the_checkpoint(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, command: list[str]
) -> None:
    ckpt = checkpoints[family]
    small = Path(export(ckpt, tmp_path / "small.safetensors")["path"])
    assert small.stat().st_size < 0.4 * ckpt.stat().st_size  # no D, no optimizer moments, one generator
    photo = str(_write_rgb(tmp_path / "photo.png", 32, 32, 4))
    args = [photo if a == "PHOTO" else a for a in command]
    made = {}
    for name, source in (("full", ckpt), ("export", small)):
        lines = ok(cgan(args[0], str(source), *args[1:], "--out", str(tmp_path / name), "--device", "cpu"))
        made[name] = {Path(p).relative_to(tmp_path / name): pixels(p) for p in lines}
    assert made["full"].keys() == made["export"].keys() and made["full"]
    for rel, image in made["full"].items():
        assert np.array_equal(image, made["export"][rel]), rel


def test_a_safetensors_export_keeps_only_the_chosen_generator(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    ckpt = checkpoints["cgan"]
    ema = load_checkpoint(export(ckpt, tmp_path / "ema.safetensors")["path"])
    raw = load_checkpoint(export(ckpt, tmp_path / "raw.safetensors", "--no-ema")["path"])
    assert ema.groups == ("net/G_ema",) and raw.groups == ("net/G",)
    assert ema.state["export"]["groups"] == ["net/G_ema"]
    # half precision: every float weight in fp16, and samples within a few levels of the fp32 file's
    half = export(ckpt, tmp_path / "half.safetensors", "--fp16")
    tensors = load_checkpoint(half["path"]).tensors
    assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float16}
    shots = {}
    for name in ("ema", "half"):
        [path] = ok(cgan("sample", str(tmp_path / f"{name}.safetensors"), "--seeds", "2", "--out",
                         str(tmp_path / f"s_{name}"), "--device", "cpu"))  # fmt: skip
        shots[name] = pixels(path)
    assert np.abs(shots["ema"] - shots["half"]).max() <= 8

    # what an export cannot do, in one line each
    error = one_line_error(cgan("sample", str(tmp_path / "ema.safetensors"), "--no-ema", "-n", "1", "--out",
                                str(tmp_path / "x"), "--device", "cpu"), 1)  # fmt: skip
    assert "inference-only export" in error and "net/G_ema" in error
    error = one_line_error(cgan("train", "--resume", str(tmp_path / "ema.safetensors")), 1)
    assert "cannot resume training" in error


def test_single_label_stargan_exports_drop_the_discriminator(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    small = load_checkpoint(export(checkpoints["stargan"], tmp_path / "s.safetensors")["path"])
    assert small.groups == ("net/G",)


# --- errors: one line, the right status, and no file left behind -----------------------------------------------


@pytest.mark.parametrize(
    "args,code,words",
    [
        (["--format", "jpeg"], 2, "--format must be one of"),
        (["--opset", "17"], 2, "--opset"),
        (["--format", "safetensors", "--direction", "AtoB"], 2, "keeps every generator"),
        (["--direction", "sideways"], 2, "AtoB or BtoA"),
    ],
)
def test_bad_options_are_usage_errors(checkpoints: dict[str, Path], tmp_path: Path, args: list[str], code: int,
                                      words: str) -> None:  # fmt: skip
    result = cgan("export", str(checkpoints["cyclegan"]), "--out", str(tmp_path / "x.onnx"), *args)
    if result.exit_code == 2 and not result.stderr.startswith("cgan: error:"):  # click's own usage message
        assert words.split()[0] in result.stderr
    else:
        assert words in one_line_error(result, code)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("family,args", [("dcgan", ["--direction", "AtoB"]), ("stargan", ["--image-stats"])])
def test_options_that_do_not_apply_are_usage_errors(checkpoints: dict[str, Path], tmp_path: Path, family: str,
                                                    args: list[str]) -> None:  # fmt: skip
    error = one_line_error(cgan("export", str(checkpoints[family]), "-o", str(tmp_path / "x.pt"), *args), 2)
    assert f"does not apply to a {family} checkpoint" in error
    error = one_line_error(cgan("export", str(checkpoints[family]), "-o", str(tmp_path)), 2)
    assert "is a folder" in error


def test_a_trained_direction_is_the_only_one_pix2pix_exports(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    error = one_line_error(cgan("export", str(checkpoints["pix2pix"]), "-o", str(tmp_path / "p.pt"),
                                "--direction", "BtoA"), 2)  # fmt: skip
    assert "AtoB only" in error


def test_the_checkpoint_itself_is_never_overwritten(checkpoints: dict[str, Path]) -> None:
    ckpt = checkpoints["dcgan"]
    before = ckpt.read_bytes()
    error = one_line_error(cgan("export", str(ckpt), "-o", str(ckpt)), 2)
    assert "checkpoint itself" in error and ckpt.read_bytes() == before


def test_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    bogus = tmp_path / "model.safetensors"
    bogus.write_bytes(b"not a checkpoint")
    result = cgan("export", str(bogus), "-o", str(tmp_path / "m.onnx"))
    assert "not a readable .safetensors" in one_line_error(result, 1)


def test_a_missing_onnx_extra_names_the_extra(checkpoints: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    error = one_line_error(cgan("export", str(checkpoints["dcgan"]), "-o", str(tmp_path / "d.onnx")), 1)
    assert "cgan-cli[onnx]" in error and "onnxruntime" in error
    assert list(tmp_path.iterdir()) == []
    # TorchScript and safetensors need no extra
    ok(cgan("export", str(checkpoints["dcgan"]), "-o", str(tmp_path / "d.pt")))


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "safetensors"])
def test_an_export_that_does_not_match_pytorch_is_refused_and_not_written(
    checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(export_module, "TOLERANCE", {torch.float32: -1.0, torch.float16: -1.0})
    out = tmp_path / f"d{SUFFIX[fmt]}"
    out.write_bytes(b"an earlier export")  # left as it was
    error = one_line_error(cgan("export", str(checkpoints["dcgan"]), "-o", str(out)), 1)
    assert "differs from PyTorch's" in error
    assert out.read_bytes() == b"an earlier export" and list(tmp_path.iterdir()) == [out]


def test_an_exporter_failure_is_one_clean_line(checkpoints: dict[str, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    def broken(*args, **kwargs):
        try:
            raise TypeError("Unsupported attribute type")
        except TypeError as cause:
            raise RuntimeError("\x1b[96mstep 3/3\x1b[0m failed\nmany more lines") from cause

    monkeypatch.setattr(torch.onnx, "export", broken)
    error = one_line_error(cgan("export", str(checkpoints["dcgan"]), "-o", str(tmp_path / "d.onnx")), 1)
    assert error == "cgan: error: ONNX export failed: TypeError: Unsupported attribute type"
    assert list(tmp_path.iterdir()) == []
