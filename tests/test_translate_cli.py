"""`cgan translate` end to end through the CLI, against a tiny pix2pix checkpoint built once per session."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_images import RED, WHITE, noise, pixels, side_by_side, solid, with_marker, write
from PIL import Image
from torch import nn
from typer.testing import CliRunner, Result

from cgan_cli.cli import app

# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pix2pix unet_32 / 8-filter checkpoint, untrained but with PyTorch's default conv init so that its
    output visibly depends on the input (the N(0, 0.02) init gives an almost constant grey)."""
    from cgan_cli.families import create
    from cgan_cli.families.pix2pix import Pix2PixConfig
    from cgan_cli.trainer import Trainer

    root = tmp_path_factory.mktemp("tiny_pix2pix")
    for i in range(2):
        write(root / "data" / "train" / f"{i}.png", side_by_side(noise(32, 32, 2 * i), noise(32, 32, 2 * i + 1)))
    config = Pix2PixConfig(paired=str(root / "data"), net_g="unet_32", ngf=8, ndf=8, crop_size=32, load_size=32)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        family = create("pix2pix", config, torch.device("cpu"))
        for module in family.G.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.reset_parameters()
    Trainer(family, root / "run").save()
    path = root / "run" / "latest.safetensors"
    assert path.is_file()
    return path


def translate(checkpoint: Path, *args: str, input: str | None = None) -> Result:
    runner = CliRunner()
    result = runner.invoke(app, ["translate", str(checkpoint), *args, "--device", "cpu", "--workers", "2"], input=input)
    # never an unhandled exception: only clean exits
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def lines(text: str) -> list[str]:
    return text.splitlines()


def error_lines(result: Result) -> list[str]:
    return [line for line in lines(result.stderr) if line.startswith("cgan: error:")]


# --- stdout, order, sizes -------------------------------------------------------------------------


def test_stdout_is_the_written_paths_in_input_order(checkpoint: Path, tmp_path: Path) -> None:
    c = write(tmp_path / "in" / "c.png", noise(32, 32, 1))
    a = write(tmp_path / "in" / "a.png", noise(20, 12, 2))
    folder = tmp_path / "more"
    write(folder / "z.png", noise(32, 32, 3))
    write(folder / "b" / "y.jpg", noise(16, 16, 4))
    b = write(tmp_path / "in" / "b.png", noise(32, 32, 5))
    out = tmp_path / "out"
    result = translate(checkpoint, str(c), str(a), str(folder), str(b), "--out", str(out), "-b", "2")
    assert result.exit_code == 0, result.stderr
    expected = [out / "c.png", out / "a.png", out / "b" / "y.png", out / "z.png", out / "b.png"]
    assert lines(result.stdout) == [str(p) for p in expected]
    assert all(p.is_file() for p in expected)
    assert "translated 5" in result.stderr and error_lines(result) == []


@pytest.mark.parametrize("size", [(37, 53), (100, 20), (1, 1), (5, 70), (64, 32)])
def test_output_keeps_the_input_size(checkpoint: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    src = write(tmp_path / "x.png", noise(*size, seed=size[0]))
    result = translate(checkpoint, str(src), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "out" / "x.png") as img:
        assert img.size == size and img.mode == "RGB" and img.format == "PNG"


def test_output_follows_exif_orientation(checkpoint: Path, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    src = write(tmp_path / "r.jpg", noise(40, 24), exif=exif)
    assert translate(checkpoint, str(src), "--out", str(tmp_path / "o")).exit_code == 0
    assert Image.open(tmp_path / "o" / "r.png").size == (24, 40)


@pytest.mark.parametrize("size,expected", [("48", (48, 48)), ("40x24", (40, 24)), ("40X24", (40, 24))])
def test_size_option_resizes(checkpoint: Path, tmp_path: Path, size: str, expected: tuple[int, int]) -> None:
    a = write(tmp_path / "a.png", noise(37, 53))
    b = write(tmp_path / "b.png", noise(100, 20))
    result = translate(checkpoint, str(a), str(b), "--size", size, "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.stderr
    assert Image.open(tmp_path / "o" / "a.png").size == expected
    assert Image.open(tmp_path / "o" / "b.png").size == expected


@pytest.mark.parametrize("size", ["0", "abc", "0x5", "5x0", "12x", "x12", "1.5"])
def test_bad_size_is_a_usage_error(checkpoint: Path, tmp_path: Path, size: str) -> None:
    src = write(tmp_path / "a.png", noise(8, 8))
    result = translate(checkpoint, str(src), "--size", size, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(error_lines(result)) == 1 and "--size" in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("ext", ["gif", "tiff", ""])
def test_bad_ext_is_a_usage_error(checkpoint: Path, tmp_path: Path, ext: str) -> None:
    src = write(tmp_path / "a.png", noise(8, 8))
    result = translate(checkpoint, str(src), "--ext", ext, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and result.stdout == "" and "--ext" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_gpu_decode_without_cuda_is_a_usage_error(checkpoint: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "a.jpg", noise(8, 8))
    result = translate(checkpoint, str(src), "--gpu-decode", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and result.stdout == ""
    assert len(error_lines(result)) == 1 and "--gpu-decode needs a CUDA --device" in result.stderr
    assert not (tmp_path / "o").exists()


# --- what is translated ---------------------------------------------------------------------------


def test_aligned_takes_the_left_half_for_atob(checkpoint: Path, tmp_path: Path) -> None:
    left, right = noise(37, 29, seed=1), solid(37, 29, WHITE)
    pair = write(tmp_path / "pairs" / "p.png", side_by_side(left, right))
    write(tmp_path / "halves" / "left.png", left)
    write(tmp_path / "halves" / "right.png", right)
    r1 = translate(checkpoint, str(pair), "--aligned", "--out", str(tmp_path / "o1"))
    r2 = translate(checkpoint, str(tmp_path / "halves"), "--out", str(tmp_path / "o2"))
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.stderr, r2.stderr)
    got = pixels(tmp_path / "o1" / "p.png")
    assert got.shape == (29, 37, 3)
    from_left, from_right = pixels(tmp_path / "o2" / "left.png"), pixels(tmp_path / "o2" / "right.png")
    assert np.abs(from_left - from_right).mean() > 5  # the halves really translate differently
    assert np.abs(got - from_left).max() <= 1
    # without --aligned the whole side-by-side picture is translated
    r3 = translate(checkpoint, str(pair), "--out", str(tmp_path / "o3"))
    assert r3.exit_code == 0 and Image.open(tmp_path / "o3" / "p.png").size == (74, 29)


def test_aligned_input_too_narrow_is_reported_not_a_crash(checkpoint: Path, tmp_path: Path) -> None:
    good = write(tmp_path / "good.png", side_by_side(noise(8, 8), noise(8, 8, 1)))
    thin = write(tmp_path / "thin.png", solid(1, 8))
    result = CliRunner().invoke(
        app,
        ["translate", str(checkpoint), str(thin), str(good), "--aligned", "--out", str(tmp_path / "o")]
        + ["--device", "cpu"],
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert lines(result.stdout) == [str(tmp_path / "o" / "good.png")]
    assert any(str(thin) in line for line in error_lines(result))


def test_folder_inputs_keep_relative_paths(checkpoint: Path, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    write(src / "2024" / "jan" / "a.jpg", noise(16, 16))
    write(src / "2024" / "b.png", noise(16, 16, 2))
    write(src / "c.webp", noise(16, 16, 3), lossless=True)
    write(src / ".thumbs" / "t.png", noise(16, 16, 4))
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = translate(checkpoint, str(src), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["2024/b.png", "2024/jan/a.png", "c.png"]
    assert lines(result.stdout) == [str(out / r) for r in ["2024/b.png", "2024/jan/a.png", "c.png"]]


@pytest.mark.parametrize(
    "ext,fmt,suffix",
    [("jpg", "JPEG", ".jpg"), ("JPEG", "JPEG", ".jpg"), (".png", "PNG", ".png"), ("webp", "WEBP", ".webp")],
)
def test_ext_chooses_the_output_format(checkpoint: Path, tmp_path: Path, ext: str, fmt: str, suffix: str) -> None:
    src = write(tmp_path / "in" / "a.png", noise(24, 16))
    result = translate(checkpoint, str(src), "--ext", ext, "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "o" / f"a{suffix}"
    assert lines(result.stdout) == [str(out)]
    with Image.open(out) as img:
        assert img.format == fmt and img.size == (24, 16)
    assert [p.name for p in (tmp_path / "o").iterdir()] == [out.name]


def test_skip_existing_leaves_outputs_alone(checkpoint: Path, tmp_path: Path) -> None:
    a = write(tmp_path / "in" / "a.png", noise(16, 16, 1))
    b = write(tmp_path / "in" / "b.png", noise(16, 16, 2))
    out = tmp_path / "o"
    sentinel = write(out / "a.png", solid(3, 3, RED))
    before, mtime = sentinel.read_bytes(), sentinel.stat().st_mtime_ns
    result = translate(checkpoint, str(a), str(b), "--skip-existing", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert lines(result.stdout) == [str(out / "b.png")]
    assert "skipped 1" in result.stderr
    assert sentinel.read_bytes() == before and sentinel.stat().st_mtime_ns == mtime
    assert (out / "b.png").is_file()
    # without the flag the existing output is replaced
    result = translate(checkpoint, str(a), "--out", str(out))
    assert result.exit_code == 0 and Image.open(out / "a.png").size == (16, 16)


def test_output_that_would_overwrite_an_input_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    x = write(folder / "x.png", noise(16, 16, 1))
    write(folder / "y.jpg", noise(16, 16, 2))
    before = x.read_bytes()
    result = translate(checkpoint, str(folder), "--out", str(folder))
    assert result.exit_code == 1
    assert x.read_bytes() == before
    assert lines(result.stdout) == [str(folder / "y.png")]
    errors = error_lines(result)
    assert len(errors) == 1 and str(x) in errors[0] and "overwrite" in errors[0]


def test_two_inputs_with_the_same_output_name(checkpoint: Path, tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "same.png", noise(16, 16, 1))
    second = write(tmp_path / "b" / "same.jpg", noise(16, 16, 2))
    result = translate(checkpoint, str(first), str(second), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert lines(result.stdout) == [str(tmp_path / "o" / "same.png")]
    (err,) = error_lines(result)
    assert str(second) in err and str(first) in err


def test_good_and_bad_inputs_mixed(checkpoint: Path, tmp_path: Path) -> None:
    good1 = write(tmp_path / "in" / "good1.png", noise(20, 20, 1))
    corrupt = tmp_path / "in" / "corrupt.png"
    data = (tmp_path / "in" / "good1.png").read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])
    text = tmp_path / "in" / "text.png"
    text.write_text("hello, I am not a picture\n")
    missing = tmp_path / "in" / "missing.png"
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    good2 = write(tmp_path / "in" / "good2.jpg", noise(13, 9, 2))
    out = tmp_path / "o"
    args = [str(good1), str(corrupt), str(text), str(missing), str(empty_dir), str(good2)]
    result = translate(checkpoint, *args, "--out", str(out), "-b", "1")
    assert result.exit_code == 1
    assert lines(result.stdout) == [str(out / "good1.png"), str(out / "good2.png")]
    assert Image.open(out / "good2.png").size == (13, 9)
    errors = error_lines(result)
    assert len(errors) == 4
    for bad in (corrupt, text, missing, empty_dir):
        assert sum(str(bad) in e for e in errors) == 1, bad
    assert not (out / "corrupt.png").exists() and not (out / "text.png").exists()
    assert "failed 4" in result.stderr


def test_only_bad_inputs(checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = translate(checkpoint, str(tmp_path / "empty"), str(tmp_path / "nope.png"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and result.stdout == ""
    assert any("no input images" in e for e in error_lines(result))


def test_odd_input_modes_translate(checkpoint: Path, tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    files = [
        write(tmp_path / "in" / "gray.png", noise(20, 10, mode="L")),
        write(tmp_path / "in" / "rgba.png", rgba),
        write(tmp_path / "in" / "g16.png", Image.fromarray(np.full((10, 20), 40000, dtype=np.uint16))),
        write(tmp_path / "in" / "pal.gif", with_marker(20, 10).convert("P")),
    ]
    result = translate(checkpoint, *map(str, files), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.stderr
    for f in files:
        with Image.open(tmp_path / "o" / f"{f.stem}.png") as img:
            assert img.size == (20, 10) and img.mode == "RGB"


# --- stdin and JSON -------------------------------------------------------------------------------


def test_dash_reads_paths_from_stdin(checkpoint: Path, tmp_path: Path) -> None:
    a = write(tmp_path / "a.png", noise(16, 16, 1))
    b = write(tmp_path / "sub" / "b.png", noise(16, 16, 2))
    out = tmp_path / "o"
    result = translate(checkpoint, "-", "--out", str(out), input=f"{b}\n\n{a}\n   \n")
    assert result.exit_code == 0, result.stderr
    assert lines(result.stdout) == [str(out / "b.png"), str(out / "a.png")]


def test_dash_with_empty_stdin_fails_cleanly(checkpoint: Path, tmp_path: Path) -> None:
    result = translate(checkpoint, "-", "--out", str(tmp_path / "o"), input="")
    assert result.exit_code == 1 and result.stdout == "" and len(error_lines(result)) == 1


def test_json_lines(checkpoint: Path, tmp_path: Path) -> None:
    a = write(tmp_path / "in" / "a.png", noise(16, 16, 1))
    b = write(tmp_path / "in" / "b.jpg", noise(16, 16, 2))
    out = tmp_path / "o"
    result = translate(checkpoint, str(a), str(tmp_path / "missing.png"), str(b), "--json", "--out", str(out))
    assert result.exit_code == 1
    records = [json.loads(line) for line in lines(result.stdout)]
    assert records == [
        {"input": str(a), "output": str(out / "a.png")},
        {"input": str(b), "output": str(out / "b.png")},
    ]
    assert all(Path(r["output"]).is_file() for r in records)


# --- determinism and batching ---------------------------------------------------------------------


def test_output_is_deterministic(checkpoint: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "a.png", noise(45, 33, 3))
    r1 = translate(checkpoint, str(src), "--out", str(tmp_path / "o1"))
    r2 = translate(checkpoint, str(src), "--out", str(tmp_path / "o2"))
    assert r1.exit_code == r2.exit_code == 0
    first, second = (tmp_path / "o1" / "a.png").read_bytes(), (tmp_path / "o2" / "a.png").read_bytes()
    assert first == second
    # and the output depends on the input (it is not a constant picture)
    other = write(tmp_path / "b.png", noise(45, 33, 4))
    assert translate(checkpoint, str(other), "--out", str(tmp_path / "o3")).exit_code == 0
    assert np.abs(pixels(tmp_path / "o3" / "b.png") - pixels(tmp_path / "o1" / "a.png")).mean() > 2


def test_batching_mixed_sizes_does_not_mix_up_outputs(checkpoint: Path, tmp_path: Path) -> None:
    sizes = [(32, 32), (40, 24), (32, 32), (32, 32), (17, 9), (32, 32), (40, 24)]
    files = [write(tmp_path / "in" / f"{i}.png", noise(w, h, seed=i)) for i, (w, h) in enumerate(sizes)]
    r_batched = translate(checkpoint, *map(str, files), "-b", "3", "--out", str(tmp_path / "batched"))
    r_single = translate(checkpoint, *map(str, files), "-b", "1", "--out", str(tmp_path / "single"))
    assert r_batched.exit_code == r_single.exit_code == 0
    assert lines(r_batched.stdout) == [str(tmp_path / "batched" / f.name) for f in files]
    for f, (w, h) in zip(files, sizes):
        batched, single = pixels(tmp_path / "batched" / f.name), pixels(tmp_path / "single" / f.name)
        assert batched.shape == (h, w, 3)
        assert np.abs(batched - single).max() <= 1, f.name


# --- bad checkpoints ------------------------------------------------------------------------------


def _net_g_byte(path: Path) -> int:
    """Offset in the file of a byte inside the last net/G tensor (the G data nearest the end)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    start, end = max(v["data_offsets"] for k, v in header.items() if k.startswith("net/G/"))
    return 8 + n + (start + end) // 2


def _assert_checkpoint_refused(result: Result, out: Path, bad: Path) -> None:
    assert result.exit_code == 1
    assert result.stdout == ""
    stderr = lines(result.stderr)
    assert len(stderr) == 1 and stderr[0].startswith("cgan: error:") and str(bad) in stderr[0]
    assert not out.exists() or not any(out.iterdir())


def test_non_checkpoint_file_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "a.png", noise(8, 8))
    for bad in (tmp_path / "model.safetensors", src):
        if bad.suffix == ".safetensors":
            bad.write_text("definitely not safetensors")
        result = translate(bad, str(src), "--out", str(tmp_path / "o"))
        _assert_checkpoint_refused(result, tmp_path / "o", bad)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    bad = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(bad), metadata={"format": "pt"})
    src = write(tmp_path / "a.png", noise(8, 8))
    result = translate(bad, str(src), "--out", str(tmp_path / "o"))
    _assert_checkpoint_refused(result, tmp_path / "o", bad)
    assert "not a cgan checkpoint" in result.stderr


def test_missing_checkpoint_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "a.png", noise(8, 8))
    result = translate(tmp_path / "nope.safetensors", str(src), "--out", str(tmp_path / "o"))
    _assert_checkpoint_refused(result, tmp_path / "o", tmp_path / "nope.safetensors")


@pytest.mark.parametrize("fraction", [0.5, 0.99])
def test_truncated_checkpoint_is_refused(checkpoint: Path, tmp_path: Path, fraction: float) -> None:
    data = checkpoint.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[: int(len(data) * fraction)])
    src = write(tmp_path / "a.png", noise(8, 8))
    result = translate(bad, str(src), "--out", str(tmp_path / "o"))
    _assert_checkpoint_refused(result, tmp_path / "o", bad)


def test_modified_checkpoint_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    data = bytearray(checkpoint.read_bytes())
    offset = _net_g_byte(checkpoint)
    assert offset > len(data) // 2  # in the tensor data, past the header and the first tensors
    data[offset] ^= 0x40
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    src = write(tmp_path / "a.png", noise(8, 8))
    result = translate(bad, str(src), "--out", str(tmp_path / "o"))
    _assert_checkpoint_refused(result, tmp_path / "o", bad)
    assert "checksum" in result.stderr or "modified" in result.stderr


def test_the_fixture_checkpoint_itself_is_fine(checkpoint: Path, tmp_path: Path) -> None:
    """Guards the tests above: the untouched file translates, so the refusals are about the damage."""
    src = write(tmp_path / "a.png", noise(8, 8))
    result = translate(checkpoint, str(src), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0 and lines(result.stdout) == [str(tmp_path / "o" / "a.png")]


def test_unet_translates_in_channels_last_on_the_cpu(checkpoint: Path, unpaired_dir: Path, tmp_path: Path) -> None:
    """The layout translate picks per network on the CPU (benchmarks/forward.py): U-Nets channels_last, weights
    included, and ResNet generators contiguous; the outputs are the contiguous path's within fp32 rounding."""
    from conftest import tiny_cyclegan_config

    from cgan_cli.checkpoint import load_checkpoint
    from cgan_cli.families import TranslateOptions, create, family_class
    from cgan_cli.trainer import Trainer
    from cgan_cli.translation import TranslationRun

    cpu = torch.device("cpu")
    unet = family_class("pix2pix").translator(load_checkpoint(checkpoint), cpu, TranslateOptions())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        contiguous = unet.net(x)
    run = TranslationRun(unet, cpu)
    assert run.memory_format == torch.channels_last
    conv = next(m for m in unet.net.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        y = unet.net(x.contiguous(memory_format=torch.channels_last))
    assert (y - contiguous).abs().max() < 1e-4

    Trainer(create("cyclegan", tiny_cyclegan_config(unpaired_dir), cpu), tmp_path / "cg").save()
    resnet = family_class("cyclegan").translator(
        load_checkpoint(next((tmp_path / "cg").glob("step-*.safetensors"))), cpu, TranslateOptions()
    )
    assert TranslationRun(resnet, cpu).memory_format == torch.contiguous_format
