"""`cgan sample` and `cgan interp` end to end through the CLI, and the paths of `cgan_cli.interpolation`.

Checkpoints are trained once per session through `cgan train` (3 steps, 8 filters, 32×32), then "woken":
after 3 steps the generator's eval-mode batch norm still holds its initial running statistics, so every
image is an almost constant grey (127/128) and "different seeds differ" would rest on one grey level.
Multiplying every G / G_ema convolution weight by a constant keeps each checkpoint valid (re-saved with
`save_checkpoint`, digests and all) but spreads the pixels over the whole range.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_cli import error_lines, ok, one_line_error, pixels
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner, Result

from cgan_cli.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from cgan_cli.cli import app
from cgan_cli.data.io import to_uint8
from cgan_cli.families import family_class
from cgan_cli.generation import latent
from cgan_cli.interpolation import lerp, path, slerp
from cgan_cli.nn.dcgan import DCGANGenerator
from tests.conftest import one_thread, tiny_config

CLASSES = ("cat", "dog", "fox")
GAIN = 6.0  # per-layer weight gain that turns the near-constant grey of a 3-step G into varied images
SIZE = 32

# --- fixtures -------------------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("single_thread")


def _labelled(root: Path, mode: str) -> Path:
    rng = np.random.default_rng(0 if mode == "RGB" else 1)
    shape = (SIZE, SIZE, 3) if mode == "RGB" else (SIZE, SIZE)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def rgb_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _labelled(tmp_path_factory.mktemp("rgb_classes"), "RGB")


@pytest.fixture(scope="session")
def gray_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _labelled(tmp_path_factory.mktemp("gray_classes"), "L")


def _train(tmp_path_factory: pytest.TempPathFactory, family: str, *args: str) -> Path:
    run = tmp_path_factory.mktemp(f"run_{family}")
    tiny = ["--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "8", "--steps", "3"]
    argv = ["train", family, *args, "--out", str(run), *tiny, "--device", "cpu", "--workers", "0"]
    with torch.random.fork_rng(), one_thread():
        result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, (result.stderr, repr(result.exception))
    latest = run / "latest.safetensors"
    ckpt = load_checkpoint(latest)
    for key, value in ckpt.tensors.items():
        if key.startswith(("net/G/", "net/G_ema/")) and value.ndim == 4:
            ckpt.tensors[key] = value * GAIN
    woken = run / "woken.safetensors"
    save_checkpoint(woken, ckpt)
    return woken


@pytest.fixture(scope="session")
def cgan_ema(tmp_path_factory: pytest.TempPathFactory, rgb_classes: Path) -> Path:
    return _train(tmp_path_factory, "cgan", "--classes", str(rgb_classes), "--ema", "0.9")


@pytest.fixture(scope="session")
def cgan_plain(tmp_path_factory: pytest.TempPathFactory, rgb_classes: Path) -> Path:
    return _train(tmp_path_factory, "cgan", "--classes", str(rgb_classes))


@pytest.fixture(scope="session")
def acgan_gray(tmp_path_factory: pytest.TempPathFactory, gray_classes: Path) -> Path:
    return _train(tmp_path_factory, "acgan", "--classes", str(gray_classes))


@pytest.fixture(scope="session")
def dcgan(tmp_path_factory: pytest.TempPathFactory, rgb_classes: Path) -> Path:
    return _train(tmp_path_factory, "dcgan", "--images", str(rgb_classes))


@pytest.fixture(scope="session")
def pix2pix(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    from cgan_cli.families import create
    from cgan_cli.trainer import Trainer

    run = tmp_path_factory.mktemp("run_pix2pix")
    with torch.random.fork_rng(), one_thread():
        Trainer(create("pix2pix", tiny_config(demo_dir), torch.device("cpu")), run).save()
    return run / "latest.safetensors"


# --- helpers --------------------------------------------------------------------------------------


def cgan(*args: str) -> Result:
    result = CliRunner().invoke(app, [*args, "--device", "cpu"])
    # never an unhandled exception, never a traceback: only clean exits
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def sample(ckpt: Path, out: Path, *args: str) -> Result:
    return cgan("sample", str(ckpt), "--out", str(out), "--workers", "2", *args)


def interp(ckpt: Path, *args: str) -> Result:
    return cgan("interp", str(ckpt), *args)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def expected_path(out: Path, seed: int, label: int | None, ext: str = "png") -> str:
    name = f"seed{seed:06d}.{ext}"
    return str(out / CLASSES[label] / name if label is not None else out / name)


def one(ckpt: Path, tmp: Path, seed: int, *args: str) -> np.ndarray:
    """The pixels of `sample --seeds SEED ARGS` (the one written file)."""
    out = tmp / f"one_{seed}_{'_'.join(args)}"
    written = ok(sample(ckpt, out, "--seeds", str(seed), *args))
    assert len(written) == 1
    return pixels(written[0])


# --- sample: files and stdout ---------------------------------------------------------------------


def test_sample_n_writes_n_pngs_and_prints_exactly_their_paths(cgan_ema: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = sample(cgan_ema, out, "-n", "5")
    written = ok(result)
    # default class: seed mod K, one subfolder per class
    assert written == [expected_path(out, s, s % 3) for s in range(5)]
    assert files_under(out) == sorted(Path(p) for p in written)
    for p in written:
        with Image.open(p) as img:
            assert img.format == "PNG" and img.size == (SIZE, SIZE) and img.mode == "RGB"
    assert "sampling 5 images" in result.stderr  # messages go to stderr


def test_sample_channels_follow_the_checkpoint(acgan_gray: Path, dcgan: Path, tmp_path: Path) -> None:
    gray = ok(sample(acgan_gray, tmp_path / "g", "-n", "3"))
    assert gray == [expected_path(tmp_path / "g", s, s) for s in range(3)]
    for p in gray:
        with Image.open(p) as img:
            assert img.mode == "L" and img.size == (SIZE, SIZE)
    rgb = ok(sample(dcgan, tmp_path / "d", "-n", "2"))
    assert rgb == [expected_path(tmp_path / "d", s, None) for s in range(2)]  # unconditional: no subfolders
    for p in rgb:
        with Image.open(p) as img:
            assert img.mode == "RGB" and img.size == (SIZE, SIZE)


@pytest.mark.parametrize(
    "seeds,expected", [("0-3,10", [0, 1, 2, 3, 10]), ("7", [7]), ("2-2, 9 ,4-5", [2, 9, 4, 5]), ("3,1", [3, 1])]
)
def test_sample_seed_lists(cgan_ema: Path, tmp_path: Path, seeds: str, expected: list[int]) -> None:
    out = tmp_path / "out"
    assert ok(sample(cgan_ema, out, "--seeds", seeds)) == [expected_path(out, s, s % 3) for s in expected]


def test_sample_class_by_name_or_index_gives_the_same_images(cgan_ema: Path, tmp_path: Path) -> None:
    by_name = ok(sample(cgan_ema, tmp_path / "a", "--class", "dog", "-n", "3"))
    by_index = ok(sample(cgan_ema, tmp_path / "b", "--class", "1", "-n", "3"))
    assert by_name == [expected_path(tmp_path / "a", s, 1) for s in range(3)]
    assert by_index == [expected_path(tmp_path / "b", s, 1) for s in range(3)]
    for a, b in zip(by_name, by_index):
        assert np.array_equal(pixels(a), pixels(b))
    # seed 1 is a dog by default too: the same picture
    assert np.array_equal(pixels(by_name[1]), one(cgan_ema, tmp_path, 1))


def test_sample_class_all_gives_n_per_class_class_major(cgan_ema: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = ok(sample(cgan_ema, out, "--class", "all", "-n", "2"))
    assert written == [expected_path(out, s, c) for c in range(3) for s in range(2)]
    # one seed, three classes: the class changes the picture
    cat, dog = pixels(written[0]), pixels(written[2])
    assert np.abs(cat - dog).max() > 0


def test_sample_repeated_class_options(cgan_ema: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = ok(sample(cgan_ema, out, "--class", "fox", "--class", "0", "--seeds", "4"))
    assert written == [expected_path(out, 4, 2), expected_path(out, 4, 0)]


def test_sample_unknown_class_is_a_usage_error_listing_the_classes(cgan_ema: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for value in ("wolf", "3"):
        result = sample(cgan_ema, out, "--class", value, "-n", "2")
        message = one_line_error(result, 2)
        assert value in message and all(name in message for name in CLASSES)
        assert result.stderr.count("\n") == 1  # nothing else was said
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "all", "cat"])
def test_sample_class_on_an_unconditional_checkpoint_is_a_usage_error(dcgan: Path, tmp_path: Path, value: str) -> None:
    result = sample(dcgan, tmp_path / "out", "--class", value)
    assert "--class" in one_line_error(result, 2)
    assert not (tmp_path / "out").exists()


# --- sample: reproducibility ----------------------------------------------------------------------


def test_sample_same_seed_same_pixels_across_runs_batch_sizes_and_batches(cgan_ema: Path, tmp_path: Path) -> None:
    first = ok(sample(cgan_ema, tmp_path / "a", "-n", "6"))
    again = ok(sample(cgan_ema, tmp_path / "b", "-n", "6"))
    single = ok(sample(cgan_ema, tmp_path / "c", "-n", "6", "--batch-size", "1"))
    chunks = ok(sample(cgan_ema, tmp_path / "d", "-n", "6", "-b", "4"))
    for a, b, c, d in zip(first, again, single, chunks):
        ref = pixels(a)
        assert np.array_equal(ref, pixels(b)) and np.array_equal(ref, pixels(c)) and np.array_equal(ref, pixels(d))
    # seed 4 alone, inside a range, and inside a longer batch
    alone = one(cgan_ema, tmp_path, 4)
    ranged = ok(sample(cgan_ema, tmp_path / "e", "--seeds", "2-5,40-60"))
    assert np.array_equal(alone, pixels(first[4]))
    assert np.array_equal(alone, pixels(ranged[2]))
    assert Path(ranged[2]).name == "seed000004.png"


def test_sample_different_seeds_differ(cgan_ema: Path, tmp_path: Path) -> None:
    written = ok(sample(cgan_ema, tmp_path / "out", "--class", "cat", "-n", "4"))
    images = [pixels(p) for p in written]
    assert all(img.std() > 5 for img in images)  # real pictures, not a constant grey
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert np.abs(images[i] - images[j]).mean() > 2


def test_sample_truncation(cgan_ema: Path, tmp_path: Path) -> None:
    zero = [pixels(p) for p in ok(sample(cgan_ema, tmp_path / "z", "--class", "cat", "-n", "4", "--truncation", "0"))]
    assert all(np.array_equal(zero[0], img) for img in zero[1:])  # ψ = 0: z = 0 for every seed
    g = DirectG(cgan_ema, "G_ema")
    z0 = g.image_for(torch.zeros(g.cfg.z_dim), 0)
    assert np.array_equal(zero[0], z0)
    half = one(cgan_ema, tmp_path, 3, "--truncation", "0.5")
    full = one(cgan_ema, tmp_path, 3)
    assert np.array_equal(full, one(cgan_ema, tmp_path, 3, "--truncation", "1"))
    assert np.abs(half - full).mean() > 1 and np.abs(half - zero[0]).mean() > 1
    assert np.array_equal(half, g.image_for(latent(3, g.cfg.z_dim) * 0.5, 0))


# --- sample: EMA ----------------------------------------------------------------------------------


class DirectG:
    """A generator rebuilt by hand from a checkpoint's tensors, bypassing `open_sampler`."""

    def __init__(self, ckpt_path: Path, group: str) -> None:
        ckpt = load_checkpoint(ckpt_path)
        family = family_class(ckpt.family)
        self.cfg = family.config_from(ckpt)
        self.net = DCGANGenerator(family.net_config(self.cfg))
        self.net.load_state_dict(ckpt.sub(f"net/{group}"), strict=True)
        self.net.eval()

    @torch.no_grad()
    def image_for(self, z: torch.Tensor, label: int) -> np.ndarray:
        image = self.net(z[None], self.net.class_vector(torch.tensor([label])))[0]
        return to_uint8(image).astype(np.int16)

    def seed(self, seed: int, label: int) -> np.ndarray:
        return self.image_for(latent(seed, self.cfg.z_dim), label)


def test_sample_default_uses_the_ema_generator(cgan_ema: Path, tmp_path: Path) -> None:
    ema, raw = DirectG(cgan_ema, "G_ema"), DirectG(cgan_ema, "G")
    default = ok(sample(cgan_ema, tmp_path / "ema", "--seeds", "0-5"))
    no_ema = ok(sample(cgan_ema, tmp_path / "raw", "--seeds", "0-5", "--no-ema"))
    for seed, (a, b) in enumerate(zip(default, no_ema)):
        assert np.array_equal(pixels(a), ema.seed(seed, seed % 3))
        assert np.array_equal(pixels(b), raw.seed(seed, seed % 3))
        assert np.abs(pixels(a) - pixels(b)).max() > 0  # --no-ema really changes the picture


def test_sample_says_which_generator_it_uses(cgan_ema: Path, cgan_plain: Path, tmp_path: Path) -> None:
    assert "EMA generator" in sample(cgan_ema, tmp_path / "a", "-n", "1").stderr
    assert "EMA" not in sample(cgan_ema, tmp_path / "b", "-n", "1", "--no-ema").stderr
    assert "EMA" not in sample(cgan_plain, tmp_path / "c", "-n", "1").stderr


def test_sample_no_ema_changes_nothing_without_an_ema_generator(cgan_plain: Path, tmp_path: Path) -> None:
    assert not any(k.startswith("net/G_ema/") for k in load_checkpoint(cgan_plain).tensors)
    a = ok(sample(cgan_plain, tmp_path / "a", "-n", "3"))
    b = ok(sample(cgan_plain, tmp_path / "b", "-n", "3", "--no-ema"))
    raw = DirectG(cgan_plain, "G")
    for seed, (x, y) in enumerate(zip(a, b)):
        assert np.array_equal(pixels(x), pixels(y))
        assert np.array_equal(pixels(x), raw.seed(seed, seed % 3))


# --- sample: json, grid, formats ------------------------------------------------------------------


def test_sample_json_lines(cgan_ema: Path, dcgan: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    records = [json.loads(line) for line in ok(sample(cgan_ema, out, "--seeds", "3-5", "--json"))]
    assert records == [
        {"path": expected_path(out, s, s % 3), "seed": s, "class": CLASSES[s % 3], "label": s % 3} for s in (3, 4, 5)
    ]
    assert all(Path(r["path"]).is_file() for r in records)
    plain = [json.loads(line) for line in ok(sample(dcgan, tmp_path / "d", "-n", "2", "--json"))]
    assert plain == [{"path": expected_path(tmp_path / "d", s, None), "seed": s} for s in range(2)]


def test_sample_grid_has_one_row_per_class(cgan_ema: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    written = ok(sample(cgan_ema, tmp_path / "out", "--class", "all", "-n", "2", "--grid", str(sheet)))
    assert [p for p in written if p.endswith("seed000000.png") or p.endswith("seed000001.png")] == written[:6]
    with Image.open(sheet) as img:
        assert img.size == (2 * SIZE + 2, 3 * SIZE + 2 * 2) and img.format == "PNG"
        cells = np.asarray(img.convert("RGB")).astype(np.int16)
    for i, p in enumerate(written[:6]):
        row, col = divmod(i, 2)  # class-major: a row is a class
        y, x = row * (SIZE + 2), col * (SIZE + 2)
        assert np.array_equal(cells[y : y + SIZE, x : x + SIZE], pixels(p))
    # by default (seed mod K) the rows are still the classes: 6 seeds → 3 rows of 2
    ok(sample(cgan_ema, tmp_path / "out2", "-n", "6", "--grid", str(tmp_path / "s2.png")))
    assert Image.open(tmp_path / "s2.png").size == (2 * SIZE + 2, 3 * SIZE + 4)


def test_sample_grid_of_an_unconditional_model_is_square(dcgan: Path, tmp_path: Path) -> None:
    ok(sample(dcgan, tmp_path / "out", "-n", "4", "--grid", str(tmp_path / "g.png")))
    assert Image.open(tmp_path / "g.png").size == (2 * SIZE + 2, 2 * SIZE + 2)


def test_sample_json_names_the_grid_as_text2img_and_interp_do(dcgan: Path, tmp_path: Path) -> None:
    lines = [json.loads(line) for line in ok(sample(dcgan, tmp_path / "o", "-n", "2", "--grid", str(tmp_path / "g.png"),
                                                    "--json"))]  # fmt: skip
    assert lines[-1] == {"path": str(tmp_path / "g.png"), "kind": "grid"} and [r["seed"] for r in lines[:-1]] == [0, 1]


@pytest.mark.parametrize("ext,fmt,suffix", [("jpg", "JPEG", "jpg"), ("JPEG", "JPEG", "jpg"), ("webp", "WEBP", "webp")])
def test_sample_ext_chooses_the_format(cgan_ema: Path, tmp_path: Path, ext: str, fmt: str, suffix: str) -> None:
    out = tmp_path / "out"
    written = ok(sample(cgan_ema, out, "-n", "2", "--ext", ext))
    assert written == [expected_path(out, s, s % 3, suffix) for s in range(2)]
    for p in written:
        with Image.open(p) as img:
            assert img.format == fmt and img.size == (SIZE, SIZE)


@pytest.mark.parametrize(
    "args",
    [
        ["--ext", "gif"],
        ["--ext", ""],
        ["--seeds", "5-2"],
        ["--seeds", "x"],
        ["--seeds", "1,,2"],
        ["--seeds", "-3"],
        ["--seeds", "4294967296"],
        ["-n", "0"],
        ["-n", "2", "--seeds", "1"],
        ["--truncation", "2"],
        ["--truncation", "-0.5"],
        ["--batch-size", "0"],
        ["--grid", "FILE:sheet.gif"],
    ],
)
def test_sample_usage_errors_write_nothing(cgan_ema: Path, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "out"
    args = [str(tmp_path / a[5:]) if a.startswith("FILE:") else a for a in args]
    result = sample(cgan_ema, out, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert files_under(tmp_path) == []


# --- sample / interp: checkpoints that cannot sample ----------------------------------------------


def test_a_translation_checkpoint_cannot_sample(pix2pix: Path, tmp_path: Path) -> None:
    message = one_line_error(sample(pix2pix, tmp_path / "out", "-n", "2"), 1)
    assert "pix2pix" in message and "cgan translate" in message
    message = one_line_error(interp(pix2pix, "--seeds", "1,2", "--out", str(tmp_path / "f")), 1)
    assert "cgan translate" in message
    assert files_under(tmp_path) == []


def _bad_checkpoint(kind: str, good: Path, tmp: Path) -> Path:
    target = tmp / f"{kind}.safetensors"
    if kind == "missing":
        return target
    if kind == "folder":
        target.mkdir()
        return target
    if kind == "garbage":
        target.write_bytes(b"\x00\x01 definitely not safetensors" * 50)
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "truncated":
        data = good.read_bytes()
        target.write_bytes(data[: len(data) // 2])
    elif kind == "flipped":  # one byte of the EMA generator's weights changed: its digest no longer matches
        data = bytearray(good.read_bytes())
        header_len = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + header_len])
        key = next(k for k in sorted(header) if k.startswith("net/G_ema/") and k.endswith(".weight"))
        data[8 + header_len + header[key]["data_offsets"][0] + 1] ^= 0xFF
        target.write_bytes(bytes(data))
    elif kind == "foreign":  # a valid .safetensors file from elsewhere
        save_file({"weight": torch.zeros(3, 3)}, str(target), metadata={"format": "pt"})
    elif kind == "no_metadata":
        save_file({"weight": torch.zeros(3, 3)}, str(target))
    elif kind == "unknown_family":  # a well-formed cgan checkpoint of a family this cgan does not know
        save_checkpoint(target, Checkpoint(None, "stylegan9", {}, 0, 0, {"net/G/w": torch.zeros(2)}))
    return target


@pytest.mark.parametrize(
    "kind",
    ["missing", "folder", "garbage", "empty", "truncated", "flipped", "foreign", "no_metadata", "unknown_family"],
)
def test_bad_checkpoints_are_one_line_failures(cgan_ema: Path, tmp_path: Path, kind: str) -> None:
    bad = _bad_checkpoint(kind, cgan_ema, tmp_path)
    out = tmp_path / "out"
    message = one_line_error(sample(bad, out, "-n", "2"), 1)
    assert str(bad) in message
    assert one_line_error(interp(bad, "--seeds", "1,2", "--out", str(out)), 1) == message
    assert not out.exists()


@pytest.mark.parametrize("case", ["sample --out", "sample --grid", "interp --out", "interp --gif"])
def test_unwritable_output_is_a_one_line_failure(cgan_ema: Path, tmp_path: Path, case: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    command, option = case.split()
    if command == "sample":
        out, sheet = (blocker / "sub", None) if option == "--out" else (tmp_path / "out", blocker / "g.png")
        result = sample(cgan_ema, out, "-n", "2", *(["--grid", str(sheet)] if sheet else []))
    else:
        target = blocker / ("sub" if option == "--out" else "a.gif")
        result = interp(cgan_ema, "--seeds", "1,2", "--steps", "2", option, str(target))
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and str(blocker) in error_lines(result)[0]


def test_damaged_format_version_is_a_one_line_failure(cgan_ema: Path, tmp_path: Path) -> None:
    data = bytearray(cgan_ema.read_bytes())
    header_len = struct.unpack("<Q", data[:8])[0]
    at = data[8 : 8 + header_len].index(b'"format_version":"1"') + len(b'"format_version":"')
    data[8 + at] = ord("q")
    bad = tmp_path / "damaged.safetensors"
    bad.write_bytes(bytes(data))
    assert str(bad) in one_line_error(sample(bad, tmp_path / "out", "-n", "1"), 1)


# --- interp: frames -------------------------------------------------------------------------------


@pytest.mark.parametrize("loop,frames", [(False, 9), (True, 12)])
def test_interp_frame_count(cgan_ema: Path, tmp_path: Path, loop: bool, frames: int) -> None:
    out = tmp_path / "frames"
    written = ok(interp(cgan_ema, "--seeds", "1,2,3", "--steps", "4", "--out", str(out), *(["--loop"] if loop else [])))
    assert written == [str(out / f"frame-{i:05d}.png") for i in range(frames)]
    assert files_under(out) == [Path(p) for p in written]
    with Image.open(written[0]) as img:
        assert img.size == (SIZE, SIZE) and img.mode == "RGB"


def test_interp_keyframes_equal_sample(cgan_ema: Path, tmp_path: Path) -> None:
    frames = ok(interp(cgan_ema, "--seeds", "1,2,3", "--steps", "4", "--class", "fox", "--out", str(tmp_path / "f")))
    keys = ok(sample(cgan_ema, tmp_path / "s", "--seeds", "1,2,3", "--class", "fox"))
    for frame, key in zip((0, 4, 8), keys):
        assert np.array_equal(pixels(frames[frame]), pixels(key)), frame
    for frame in (1, 2, 3, 5, 6, 7):  # in-between frames are new pictures
        assert all(np.abs(pixels(frames[frame]) - pixels(k)).max() > 0 for k in keys)


def test_interp_loop_returns_towards_the_first_keyframe(cgan_ema: Path, tmp_path: Path) -> None:
    frames = ok(interp(cgan_ema, "--seeds", "1,2", "--steps", "3", "--loop", "--class", "cat", "--out", str(tmp_path)))
    assert len(frames) == 6
    first, second = one(cgan_ema, tmp_path, 1, "--class", "cat"), one(cgan_ema, tmp_path, 2, "--class", "cat")
    assert np.array_equal(pixels(frames[0]), first) and np.array_equal(pixels(frames[3]), second)
    # the last frame is on the way back, closer to seed 1 than to seed 2
    last = pixels(frames[-1])
    assert np.abs(last - first).mean() < np.abs(last - second).mean()


def test_interp_lerp_and_slerp_share_keyframes_but_not_middles(cgan_ema: Path, tmp_path: Path) -> None:
    runs = {}
    for mode in ("lerp", "slerp"):
        args = ("--seeds", "1,2,3", "--steps", "4", "--mode", mode, "--class", "dog", "--out", str(tmp_path / mode))
        runs[mode] = [pixels(p) for p in ok(interp(cgan_ema, *args))]
    for i in (0, 4, 8):
        assert np.array_equal(runs["lerp"][i], runs["slerp"][i])
    assert np.abs(runs["lerp"][2] - runs["slerp"][2]).mean() > 0.5
    assert np.abs(runs["lerp"][6] - runs["slerp"][6]).mean() > 0.5
    # slerp is the default
    default = [pixels(p) for p in ok(interp(cgan_ema, "--seeds", "1,2,3", "--steps", "4", "--class", "dog",
                                            "--out", str(tmp_path / "default")))]  # fmt: skip
    assert all(np.array_equal(a, b) for a, b in zip(default, runs["slerp"]))


@pytest.mark.parametrize("fixture", ["cgan_ema", "acgan_gray"])
def test_interp_classes_at_a_fixed_seed(request: pytest.FixtureRequest, tmp_path: Path, fixture: str) -> None:
    ckpt = request.getfixturevalue(fixture)
    frames = ok(interp(ckpt, "--classes", "cat,fox", "--steps", "3", "--seed", "5", "--out", str(tmp_path / "f")))
    assert len(frames) == 4
    assert np.array_equal(pixels(frames[0]), one(ckpt, tmp_path, 5, "--class", "cat"))
    assert np.array_equal(pixels(frames[3]), one(ckpt, tmp_path, 5, "--class", "fox"))
    # three keyframes, by name and index, with a loop: 3·3 frames, keyframes at 0, 3, 6
    frames = ok(interp(ckpt, "--classes", "dog, 0 ,fox", "--steps", "3", "--seed", "5", "--loop",
                       "--out", str(tmp_path / "g")))  # fmt: skip
    assert len(frames) == 9
    assert np.array_equal(pixels(frames[3]), one(ckpt, tmp_path, 5, "--class", "cat"))


def test_interp_unconditional(dcgan: Path, tmp_path: Path) -> None:
    frames = ok(interp(dcgan, "--seeds", "0,7", "--steps", "2", "--out", str(tmp_path / "f")))
    assert len(frames) == 3
    assert np.array_equal(pixels(frames[0]), one(dcgan, tmp_path, 0))
    assert np.array_equal(pixels(frames[2]), one(dcgan, tmp_path, 7))


def test_interp_same_frames_for_any_batch_size(cgan_ema: Path, tmp_path: Path) -> None:
    a = ok(interp(cgan_ema, "--seeds", "1,2,3", "--steps", "4", "--out", str(tmp_path / "a")))
    b = ok(interp(cgan_ema, "--seeds", "1,2,3", "--steps", "4", "--out", str(tmp_path / "b"), "-b", "2"))
    assert all(np.array_equal(pixels(x), pixels(y)) for x, y in zip(a, b))


def test_interp_gif(cgan_ema: Path, tmp_path: Path) -> None:
    gif = tmp_path / "walk.gif"
    written = ok(interp(cgan_ema, "--seeds", "1,2,3", "--steps", "4", "--gif", str(gif), "--duration", "50"))
    assert written == [str(gif)]  # no --out: no frame files
    assert files_under(tmp_path) == [gif]
    with Image.open(gif) as img:
        assert img.format == "GIF" and img.size == (SIZE, SIZE)
        assert img.n_frames == 9 and img.is_animated
        assert img.info["duration"] == 50
        img.seek(8)
        assert img.info["duration"] == 50


def test_interp_grid(cgan_ema: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    frames = tmp_path / "f"
    written = ok(interp(cgan_ema, "--seeds", "1,2,3", "--steps", "4", "--grid", str(sheet), "--out", str(frames)))
    assert written[-1] == str(sheet) and len(written) == 10
    # a row per keyframe step: 4 + 4 + the last keyframe
    with Image.open(sheet) as img:
        assert img.size == (4 * SIZE + 3 * 2, 3 * SIZE + 2 * 2)
        cells = np.asarray(img.convert("RGB")).astype(np.int16)
    assert np.array_equal(cells[SIZE + 2 : 2 * SIZE + 2, 0:SIZE], pixels(written[4]))
    assert np.array_equal(cells[2 * (SIZE + 2) :, 0:SIZE], pixels(written[8]))


def test_interp_json(cgan_ema: Path, tmp_path: Path) -> None:
    out, gif, sheet = tmp_path / "f", tmp_path / "a.gif", tmp_path / "g.png"
    args = ("--seeds", "1,2", "--steps", "2", "--out", str(out), "--gif", str(gif), "--grid", str(sheet), "--json")
    records = [json.loads(line) for line in ok(interp(cgan_ema, *args))]
    assert records == [{"path": str(out / f"frame-{i:05d}.png"), "frame": i} for i in range(3)] + [
        {"path": str(gif), "kind": "gif"},
        {"path": str(sheet), "kind": "grid"},
    ]


def test_interp_paths_are_printed_frames_then_gif_then_grid(cgan_ema: Path, tmp_path: Path) -> None:
    out, gif, sheet = tmp_path / "f", tmp_path / "a.gif", tmp_path / "g.png"
    args = ("--seeds", "4,5", "--steps", "1", "--out", str(out), "--gif", str(gif), "--grid", str(sheet))
    assert ok(interp(cgan_ema, *args)) == [str(out / "frame-00000.png"), str(out / "frame-00001.png"), str(gif),
                                           str(sheet)]  # fmt: skip


@pytest.mark.parametrize(
    "fixture,args",
    [
        ("cgan_ema", ["--seeds", "1,2", "--classes", "cat,dog", "--out", "OUT"]),
        ("cgan_ema", ["--out", "OUT"]),
        ("cgan_ema", ["--seeds", "1", "--out", "OUT"]),
        ("cgan_ema", ["--seeds", "3-3", "--out", "OUT"]),
        ("cgan_ema", ["--classes", "cat", "--out", "OUT"]),
        ("cgan_ema", ["--classes", "cat,", "--out", "OUT"]),
        ("cgan_ema", ["--classes", "cat,wolf", "--out", "OUT"]),
        ("cgan_ema", ["--seeds", "1,2", "--class", "wolf", "--out", "OUT"]),
        ("cgan_ema", ["--classes", "cat,dog", "--class", "cat", "--out", "OUT"]),
        ("cgan_ema", ["--seeds", "1,2"]),
        ("cgan_ema", ["--seeds", "1,2", "--gif", "FILE:x.png"]),
        ("cgan_ema", ["--seeds", "1,2", "--gif", "FILE:x"]),
        ("cgan_ema", ["--seeds", "1,2", "--grid", "FILE:x.gif"]),
        ("cgan_ema", ["--seeds", "1,2", "--mode", "cubic", "--out", "OUT"]),
        ("cgan_ema", ["--seeds", "1,2", "--steps", "0", "--out", "OUT"]),
        ("cgan_ema", ["--seeds", "1,2", "--steps", "10001", "--out", "OUT"]),
        ("cgan_ema", ["--seeds", "2-1", "--out", "OUT"]),
        ("cgan_ema", ["--seeds", "1,2", "--truncation", "1.5", "--out", "OUT"]),
        ("dcgan", ["--classes", "cat,dog", "--out", "OUT"]),
        ("dcgan", ["--seeds", "1,2", "--class", "0", "--out", "OUT"]),
    ],
)
def test_interp_usage_errors_write_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, fixture: str, args: list[str]
) -> None:
    ckpt = request.getfixturevalue(fixture)
    args = [
        str(tmp_path / "frames") if a == "OUT" else str(tmp_path / a[5:]) if a.startswith("FILE:") else a for a in args
    ]
    result = interp(ckpt, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert files_under(tmp_path) == []


def test_interp_truncation_zero_gives_the_mean_image_throughout(cgan_ema: Path, tmp_path: Path) -> None:
    frames = ok(interp(cgan_ema, "--seeds", "1,2", "--steps", "4", "--truncation", "0", "--class", "cat",
                       "--out", str(tmp_path / "f")))  # fmt: skip
    mean = one(cgan_ema, tmp_path, 1, "--class", "cat", "--truncation", "0")
    assert np.array_equal(pixels(frames[-1]), mean)  # passes today: the last keyframe is copied, not blended
    for p in frames:
        assert np.array_equal(pixels(p), mean), p


def test_interp_truncation_keeps_keyframes_equal_to_sample(cgan_ema: Path, tmp_path: Path) -> None:
    frames = ok(interp(cgan_ema, "--seeds", "1,2", "--steps", "2", "--truncation", "0.5", "--class", "cat",
                       "--out", str(tmp_path / "f")))  # fmt: skip
    assert np.array_equal(pixels(frames[0]), one(cgan_ema, tmp_path, 1, "--class", "cat", "--truncation", "0.5"))
    assert np.array_equal(pixels(frames[2]), one(cgan_ema, tmp_path, 2, "--class", "cat", "--truncation", "0.5"))


# --- cgan_cli.interpolation -----------------------------------------------------------------------


def test_slerp_keeps_the_norm_of_orthogonal_equal_norm_vectors() -> None:
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 3.0, 0.0])
    for t in (0.25, 0.5, 0.75):
        assert float(slerp(a, b, t).norm()) == pytest.approx(3.0, rel=1e-6)
    assert float(lerp(a, b, 0.5).norm()) == pytest.approx(3.0 / 2**0.5, rel=1e-6)
    assert torch.allclose(slerp(a, b, 0.5), torch.tensor([1.0, 1.0, 0.0]) * 3 / 2**0.5)
    # Gaussian latents: slerp stays near the keyframes' norm, lerp dips through the middle
    za, zb = latent(1, 512), latent(2, 512)
    assert abs(float(slerp(za, zb, 0.5).norm()) - float(za.norm())) < 0.05 * float(za.norm())
    assert float(lerp(za, zb, 0.5).norm()) < 0.8 * float(za.norm())


@pytest.mark.parametrize("blend", [lerp, slerp])
def test_blends_hit_their_endpoints(blend) -> None:
    a, b = latent(3, 16), latent(4, 16)
    assert torch.equal(blend(a, b, 0.0), a)
    assert torch.allclose(blend(a, b, 1.0), b, atol=1e-6)


@pytest.mark.parametrize("mode", ["lerp", "slerp"])
@pytest.mark.parametrize("keys,steps,loop", [(2, 1, False), (2, 5, False), (3, 4, False), (3, 4, True), (2, 1, True)])
def test_path_frames_and_endpoints(mode: str, keys: int, steps: int, loop: bool) -> None:
    kf = torch.stack([latent(s, 8) for s in range(keys)])
    frames = path(kf, steps, loop, mode)
    assert frames.shape == (steps * keys if loop else steps * (keys - 1) + 1, 8)
    for k in range(keys):
        assert torch.equal(frames[k * steps], kf[k])  # keyframes exactly, not approximately
    if loop:  # the walk ends one step short of the first keyframe, so repeating it is seamless
        assert not torch.equal(frames[-1], kf[0])
        assert torch.allclose(path(kf, steps, False, mode)[-1], kf[-1])
    else:
        assert torch.equal(frames[-1], kf[-1])
    assert torch.isfinite(frames).all()


def test_path_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="cubic"):
        path(torch.zeros(2, 3), 2, mode="cubic")


def test_slerp_of_parallel_vectors_is_the_lerp() -> None:
    a = latent(5, 32)
    for b in (a.clone(), 2 * a, a * 1.0000001):
        for t in (0.0, 0.3, 0.5, 1.0):
            got = slerp(a, b, t)
            assert torch.isfinite(got).all()
            assert torch.allclose(got, lerp(a, b, t), atol=1e-5)
    frames = path(torch.stack([a, a]), 4, mode="slerp")
    assert torch.isfinite(frames).all() and torch.allclose(frames, a.expand(5, -1))


def test_slerp_of_zero_vectors_is_finite() -> None:
    zero = torch.zeros(8)
    assert torch.equal(slerp(zero, zero, 0.5), zero)
    assert torch.isfinite(slerp(zero, latent(1, 8), 0.5)).all()


def test_slerp_of_antiparallel_vectors_falls_back_to_lerp() -> None:
    a = torch.tensor([1.0, 2.0, 3.0])
    for t in (0.25, 0.3):
        assert torch.allclose(slerp(a, -a, t), lerp(a, -a, t), atol=1e-4)
