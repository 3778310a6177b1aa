"""`cgan text2img`, `cgan interp --text` and `cgan eval --clip-score` end to end through the CLI.

Tiny gancls and gigagan checkpoints (the random-weight `cgan-tiny` CLIP, 32×32, 8 filters) are trained
once per module for 3 steps. A 3-step gancls G barely reads its text (its fusion weights are still close
to their identity init), so "different prompts differ" is checked on gigagan, whose cross-attention
makes prompts visible from the first step.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_cli import ok, one_line_error, pixels
from PIL import Image
from typer.testing import CliRunner, Result

from cgan_cli.cli import app
from cgan_cli.families import create
from cgan_cli.metrics.clip_score import clip_score, clip_scores
from cgan_cli.text import clip as clip_module
from cgan_cli.text.clip import ClipSpec, load_image_encoder, load_text_encoder
from cgan_cli.trainer import Trainer
from tests.conftest import one_thread, tiny_family_config

pytestmark = pytest.mark.usefixtures("single_thread")

CPU = torch.device("cpu")
SIZE = 32
TINY_CLIP = ["--clip-model", "cgan-tiny", "--clip-pretrained", "none"]
RED, BLUE, GREEN = "a red circle", "a blue square", "a green circle"

# --- fixtures -------------------------------------------------------------------------------------


def _train(run: Path, family: str, captions: Path, **overrides: object) -> Path:
    cfg = tiny_family_config(family, run, run, captions_dir=captions)
    cfg = dataclasses.replace(cfg, steps=3, **overrides)
    with torch.random.fork_rng(), one_thread():
        return Trainer(create(family, cfg, CPU), run).fit()


def _write_clip(path: Path, seed: int) -> Path:
    """What `python -m cgan_cli.text.clip --model cgan-tiny --seed S --out FILE` does, in-process (no
    second interpreter to import torch and open_clip)."""
    assert clip_module.main(["--model", "cgan-tiny", "--seed", str(seed), "--out", str(path)]) == 0
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def gancls(root: Path, captions_dir: Path) -> Path:
    return _train(root / "gancls", "gancls", captions_dir)


@pytest.fixture(scope="module")
def gigagan(root: Path, captions_dir: Path) -> Path:
    return _train(root / "gigagan", "gigagan", captions_dir)


@pytest.fixture(scope="module", params=["gancls", "gigagan"])
def text_ckpt(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def dcgan(root: Path, classes_dir: Path) -> Path:
    cfg = tiny_family_config("dcgan", root, classes_dir)
    with torch.random.fork_rng(), one_thread():
        return Trainer(create("dcgan", cfg, CPU), root / "dcgan").save()


@pytest.fixture(scope="module")
def clip0(root: Path) -> Path:
    """Full CLIP weights equal to cgan-tiny's random init with seed 0 (the encoder the models train with)."""
    return _write_clip(root / "clip0.safetensors", 0)


@pytest.fixture(scope="module")
def clip7(root: Path) -> Path:
    return _write_clip(root / "clip7.safetensors", 7)


@pytest.fixture(scope="module")
def moved_weights(root: Path, captions_dir: Path, clip0: Path) -> dict[str, Path]:
    """gancls trained with --clip-weights FILE, without and with --embed-clip; each FILE then deleted."""
    made = {}
    for name, embed in (("linked", False), ("embedded", True)):
        weights = root / f"{name}-clip.safetensors"
        shutil.copyfile(clip0, weights)
        made[name] = _train(root / name, "gancls", captions_dir, clip_weights=str(weights), embed_clip=embed)
        weights.unlink()
    return made


# --- helpers --------------------------------------------------------------------------------------


def cgan(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(app, [*args, "--device", "cpu"], input=input)
    # never an unhandled exception, never a traceback: only clean exits
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def text2img(ckpt: Path, out: Path, *args: str, input: str | None = None) -> list[str]:
    return ok(cgan("text2img", str(ckpt), *args, "--out", str(out), input=input))


def image_of(out: Path, prompt_slug: str, seed: int, ext: str = "png") -> np.ndarray:
    return pixels(out / prompt_slug / f"seed{seed:06d}.{ext}")


def near(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal within one 8-bit level (the rounding of a float difference in the last bit)."""
    return a.shape == b.shape and int(np.abs(a - b).max()) <= 1


def clip_json(*args: str) -> dict:
    lines = ok(cgan("eval", *args, "--clip-score", "--json"))
    assert len(lines) == 1
    return json.loads(lines[0])


def manual_clip_score(folder: Path, spec: ClipSpec = ClipSpec(model="cgan-tiny")) -> tuple[float, list[float]]:
    """CLIP score recomputed here: every image with the first line of its sidecar, 100·cos averaged, the
    mean clipped at 0 (torchmetrics). Also the raw cosines, so a test can tell whether the clip mattered."""
    text_enc, image_enc = load_text_encoder(spec, CPU), load_image_encoder(spec, CPU)
    scores, cosines = [], []
    for path in sorted(folder.rglob("*.png")):
        caption = path.with_suffix(".txt").read_text().splitlines()[0]
        arr = pixels(path).astype(np.float32)
        x = torch.from_numpy(arr).permute(2, 0, 1)[None] / 127.5 - 1
        with torch.no_grad():
            cos = float(F.cosine_similarity(image_enc(x), text_enc.encode([caption]).pooled, dim=-1)[0])
        cosines.append(cos)
        scores.append(100 * cos)
    assert scores, folder
    return max(sum(scores) / len(scores), 0.0), cosines


# --- text2img: outputs ----------------------------------------------------------------------------


def test_text2img_prints_paths_and_writes_a_folder_per_prompt_with_its_prompt(gigagan: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    lines = text2img(gigagan, out, "A Red circle!", BLUE, "-n", "2", "--seed", "3")
    expected = [out / f"{name}/seed{s:06d}.png" for name in ("a-red-circle", "a-blue-square") for s in (3, 4)]
    assert lines == [str(p) for p in expected]
    for p in expected:
        assert p.is_file()
        with Image.open(p) as img:
            assert img.format == "PNG" and img.size == (SIZE, SIZE) and img.mode == "RGB"
    assert (out / "a-red-circle/seed000003.txt").read_text() == "A Red circle!\n"
    assert (out / "a-blue-square/seed000004.txt").read_text() == f"{BLUE}\n"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted([*(p.relative_to(out).as_posix() for p in expected),
                              *(p.relative_to(out).with_suffix(".txt").as_posix() for p in expected)])  # fmt: skip
    red3, red4, blue3 = (
        image_of(out, "a-red-circle", 3),
        image_of(out, "a-red-circle", 4),
        image_of(out, "a-blue-square", 3),
    )
    assert np.abs(red3 - red4).mean() > 5, "different seeds give the same image"
    assert np.abs(red3 - blue3).mean() > 5, "different prompts give the same image"


def test_text2img_reads_prompts_from_stdin_among_arguments(gancls: Path, tmp_path: Path) -> None:
    lines = text2img(gancls, tmp_path / "a", "first", "-", "last", "--seeds", "2", input=f"{RED}\n\n  {BLUE}  \n")
    assert [Path(p).parent.name for p in lines] == ["first", "a-red-circle", "a-blue-square", "last"]
    assert (tmp_path / "a/a-blue-square/seed000002.txt").read_text() == f"{BLUE}\n"  # stripped
    text2img(gancls, tmp_path / "b", RED, "--seeds", "2")
    assert np.array_equal(image_of(tmp_path / "a", "a-red-circle", 2), image_of(tmp_path / "b", "a-red-circle", 2))


def test_text2img_json_lines(gancls: Path, tmp_path: Path) -> None:
    lines = text2img(gancls, tmp_path, RED, BLUE, "--seeds", "0-1,7", "--json")
    records = [json.loads(line) for line in lines]
    assert [(r["prompt"], r["seed"]) for r in records] == [(p, s) for p in (RED, BLUE) for s in (0, 1, 7)]
    for r in records:
        assert set(r) == {"path", "prompt", "seed"}
        path = Path(r["path"])
        assert path.is_file() and path.name == f"seed{r['seed']:06d}.png"
        assert path.with_suffix(".txt").read_text() == r["prompt"] + "\n"


def test_text2img_grid_has_a_row_per_prompt_and_a_column_per_seed(gigagan: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "grid.png"
    lines = text2img(gigagan, tmp_path / "out", RED, BLUE, "--seeds", "0-2", "--grid", str(sheet))
    assert len(lines) == 7 and lines[-1] == str(sheet)
    gutter = 2
    g = pixels(sheet)
    assert g.shape == (2 * SIZE + gutter, 3 * (SIZE + gutter) - gutter, 3)  # (H, W): 2 prompts × 3 seeds
    # row 1 (the second prompt), column 2 (the third seed)
    y, x = SIZE + gutter, 2 * (SIZE + gutter)
    assert np.array_equal(g[y : y + SIZE, x : x + SIZE], image_of(tmp_path / "out", "a-blue-square", 2))
    assert np.array_equal(g[:SIZE, :SIZE], image_of(tmp_path / "out", "a-red-circle", 0))


def test_text2img_same_prompt_and_seed_same_pixels_across_runs_batches_and_company(
    text_ckpt: Path, tmp_path: Path
) -> None:
    runs = {
        "alone": [RED, "--seeds", "5"],
        "crowd": [BLUE, RED, GREEN, "--seeds", "3-6"],
        "again": [BLUE, RED, GREEN, "--seeds", "3-6"],
        "shuffled": [GREEN, RED, BLUE, "--seeds", "6,5,4,3"],
    }
    for name, args in runs.items():
        text2img(text_ckpt, tmp_path / name, *args, "-b", "8")
    text2img(text_ckpt, tmp_path / "single", *runs["crowd"], "-b", "1")
    red5 = image_of(tmp_path / "crowd", "a-red-circle", 5)
    assert np.array_equal(red5, image_of(tmp_path / "alone", "a-red-circle", 5))  # other prompts in the run
    files = sorted(p.relative_to(tmp_path / "crowd") for p in (tmp_path / "crowd").rglob("*.png"))
    assert len(files) == 12
    for rel in files:
        ref = pixels(tmp_path / "crowd" / rel)
        assert np.array_equal(ref, pixels(tmp_path / "again" / rel)), rel  # run to run
        # order of prompts and seeds: an image may land in a batch of another size (rounding, as below)
        shuffled = pixels(tmp_path / "shuffled" / rel)
        assert near(ref, shuffled) and np.count_nonzero(ref != shuffled) <= ref.size // 100, rel
        # --batch-size 1 vs 8: CPU GEMMs of another shape round differently in the last float bit, which
        # can move a pixel that sits on a .5 boundary by one level (gigagan; see the report)
        single = pixels(tmp_path / "single" / rel)
        assert near(ref, single) and np.count_nonzero(ref != single) <= ref.size // 100, rel
    assert not np.array_equal(red5, image_of(tmp_path / "crowd", "a-red-circle", 6))


def test_text2img_truncation_zero_gives_every_seed_the_same_image(text_ckpt: Path, tmp_path: Path) -> None:
    text2img(text_ckpt, tmp_path / "t0", RED, "--seeds", "0-2", "--truncation", "0")
    text2img(text_ckpt, tmp_path / "t1", RED, "--seeds", "0-2")
    t0 = [image_of(tmp_path / "t0", "a-red-circle", s) for s in range(3)]
    t1 = [image_of(tmp_path / "t1", "a-red-circle", s) for s in range(3)]
    assert np.array_equal(t0[0], t0[1]) and np.array_equal(t0[0], t0[2])
    assert not np.array_equal(t1[0], t1[1])  # …which is the truncation's doing


@pytest.mark.parametrize("ext", ["jpg", "JPEG"])
def test_text2img_ext_jpg(gancls: Path, tmp_path: Path, ext: str) -> None:
    lines = text2img(gancls, tmp_path, RED, "-n", "1", "--ext", ext)
    assert lines == [str(tmp_path / "a-red-circle/seed000000.jpg")]
    with Image.open(lines[0]) as img:
        assert img.format == "JPEG" and img.size == (SIZE, SIZE)
    assert (tmp_path / "a-red-circle/seed000000.txt").read_text() == f"{RED}\n"


# --- text2img: errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "code", "words"),
    [
        (["-"], "\n  \n", 2, "no prompts"),
        (["-"], "", 2, "no prompts"),
        (["  "], None, 2, "empty"),
        ([RED, "--ext", "gif"], None, 2, "--ext"),
        ([RED, "--seeds", "1-x"], None, 2, "--seeds"),
        ([RED, "--seeds", "5-2"], None, 2, "--seeds"),
        ([RED, "--grid", "sheet.bmp"], None, 2, ".bmp"),
    ],
)
def test_text2img_usage_errors_are_one_line_and_write_nothing(
    gancls: Path, tmp_path: Path, args: list[str], stdin: str | None, code: int, words: str
) -> None:
    out = tmp_path / "out"
    line = one_line_error(cgan("text2img", str(gancls), *args, "--out", str(out), input=stdin), code)
    assert words in line
    assert not out.exists()


def test_text2img_without_any_prompt_argument_is_a_usage_error(gancls: Path, tmp_path: Path) -> None:
    # click's own "Missing argument" (a box, not a `cgan: error:` line), but exit 2 and no traceback
    result = cgan("text2img", str(gancls), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and result.stdout == ""
    assert "prompts" in result.stderr.lower()
    assert not (tmp_path / "out").exists()


def test_text2img_refuses_a_sampling_checkpoint(dcgan: Path, tmp_path: Path) -> None:
    line = one_line_error(cgan("text2img", str(dcgan), RED, "--out", str(tmp_path / "o")), 1)
    assert str(dcgan) in line
    assert "a dcgan checkpoint does not make images from text" in line.replace(str(dcgan), "")
    assert not (tmp_path / "o").exists()


def test_sample_refuses_a_text_checkpoint_and_points_to_text2img(gancls: Path, tmp_path: Path) -> None:
    line = one_line_error(cgan("sample", str(gancls), "-n", "1", "--out", str(tmp_path / "o")), 1)
    message = line.replace(str(gancls), "CKPT")  # the path must not supply the words looked for
    assert message.startswith("cgan: error: CKPT: a gancls checkpoint") and "text2img" in message, line
    assert not (tmp_path / "o").exists()


def test_translate_refuses_a_text_checkpoint_and_points_to_text2img(
    gancls: Path, captions_dir: Path, tmp_path: Path
) -> None:
    line = one_line_error(cgan("translate", str(gancls), str(captions_dir), "--out", str(tmp_path / "o")), 1)
    message = line.replace(str(gancls), "CKPT")
    assert message.startswith("cgan: error: CKPT: a gancls checkpoint") and "text2img" in message, line


def test_text2img_missing_checkpoint(tmp_path: Path) -> None:
    missing = tmp_path / "nope.safetensors"
    line = one_line_error(cgan("text2img", str(missing), RED, "--out", str(tmp_path / "o")), 1)
    assert str(missing) in line


def test_text2img_refuses_another_clip_and_accepts_the_same_one_from_a_file(
    gancls: Path, clip0: Path, clip7: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    line = one_line_error(cgan("text2img", str(gancls), RED, "--out", str(out), "--clip-weights", str(clip7)), 1)
    assert "text encoder" in line and "cgan-tiny (random init, seed 0)" in line and str(clip7) in line
    assert not out.exists()
    # the seed-0 weights file is the encoder the model was trained with (random init, seed 0)
    text2img(gancls, tmp_path / "file", RED, "--seeds", "1", "--clip-weights", str(clip0))
    text2img(gancls, tmp_path / "init", RED, "--seeds", "1")
    assert np.array_equal(
        image_of(tmp_path / "file", "a-red-circle", 1), image_of(tmp_path / "init", "a-red-circle", 1)
    )


def test_a_deleted_clip_weights_file_is_a_one_line_error_unless_embedded(
    moved_weights: dict[str, Path], clip0: Path, tmp_path: Path
) -> None:
    linked, embedded = moved_weights["linked"], moved_weights["embedded"]
    line = one_line_error(cgan("text2img", str(linked), RED, "--out", str(tmp_path / "o")), 1)
    assert "--clip-weights" in line and "linked-clip.safetensors" in line, line
    # found again with --clip-weights (the same weights at a new place)
    text2img(linked, tmp_path / "linked", RED, "--seeds", "1", "--clip-weights", str(clip0))
    # self-contained: the embedded encoder is the file's encoder
    text2img(embedded, tmp_path / "embedded", RED, "--seeds", "1")
    text2img(embedded, tmp_path / "given", RED, "--seeds", "1", "--clip-weights", str(clip0))
    assert np.array_equal(
        image_of(tmp_path / "embedded", "a-red-circle", 1), image_of(tmp_path / "given", "a-red-circle", 1)
    )


# --- interp --text --------------------------------------------------------------------------------


def test_interp_text_blend_ends_at_text2img_images(text_ckpt: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    lines = ok(cgan("interp", str(text_ckpt), "--text", RED, "--text", BLUE, "--steps", "4", "--seed", "3",
                    "--out", str(frames)))  # fmt: skip
    assert lines == [str(frames / f"frame-{i:05d}.png") for i in range(5)]
    text2img(text_ckpt, tmp_path / "t2i", RED, BLUE, "--seeds", "3")
    first, last = pixels(lines[0]), pixels(lines[-1])
    assert near(first, image_of(tmp_path / "t2i", "a-red-circle", 3))
    assert near(last, image_of(tmp_path / "t2i", "a-blue-square", 3))
    if text_ckpt.parent.name == "gigagan":  # prompts visibly matter: the middle is neither end
        middle = pixels(lines[2])
        assert not near(middle, first) and not near(middle, last)


def test_interp_seeds_at_one_prompt_ends_at_text2img_images(gigagan: Path, tmp_path: Path) -> None:
    lines = ok(
        cgan("interp", str(gigagan), "--seeds", "1,2", "--text", RED, "--steps", "2", "--out", str(tmp_path / "f"))
    )
    assert len(lines) == 3
    text2img(gigagan, tmp_path / "t2i", RED, "--seeds", "1-2")
    assert near(pixels(lines[0]), image_of(tmp_path / "t2i", "a-red-circle", 1))
    assert near(pixels(lines[-1]), image_of(tmp_path / "t2i", "a-red-circle", 2))
    assert not near(pixels(lines[0]), pixels(lines[-1]))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--text", RED], "--text"),
        (["--seeds", "1,2", "--text", RED, "--text", BLUE], "exactly one --text"),
        (["--classes", "a,b", "--text", RED, "--text", BLUE], "--classes"),
        (["--classes", "a,b"], "--classes"),
        (["--seeds", "1,2", "--text", RED, "--seed", "3"], "--seed goes with"),
    ],
)
def test_interp_text_usage_errors(gancls: Path, tmp_path: Path, args: list[str], words: str) -> None:
    out = tmp_path / "f"
    line = one_line_error(cgan("interp", str(gancls), *args, "--out", str(out)), 2)
    assert words in line
    assert not out.exists()


# --- eval --clip-score ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made_folder(gigagan: Path, root: Path) -> Path:
    out = root / "made"
    with one_thread():
        text2img(gigagan, out, RED, BLUE, GREEN, "--seeds", "0-1")
    return out


def test_clip_score_of_a_text2img_folder_matches_a_manual_computation(made_folder: Path, clip7: Path) -> None:
    lines = ok(cgan("eval", str(made_folder), "--clip-score", *TINY_CLIP))
    assert len(lines) == 1 and lines[0].startswith("clip_score: ")
    report = clip_json(str(made_folder), *TINY_CLIP)
    expected, cosines = manual_clip_score(made_folder)
    assert any(c > 0 for c in cosines), "no positive cosine: the comparison would only test zeros"
    assert report["clip_score"] == pytest.approx(expected, abs=1e-4)
    assert float(lines[0].split(": ")[1]) == pytest.approx(expected, rel=1e-5)
    settings = report["settings"]
    assert settings["clip_backbone"] == "cgan-tiny (random init, seed 0)"
    assert settings["clip_sha256"] == load_text_encoder(ClipSpec(model="cgan-tiny"), CPU).sha256
    # another CLIP: its file and its sha are recorded, and it scores with its own towers
    other = clip_json(str(made_folder), "--clip-model", "cgan-tiny", "--clip-weights", str(clip7))
    spec7 = ClipSpec(model="cgan-tiny", weights=str(clip7))
    assert str(clip7) in other["settings"]["clip_backbone"]
    assert other["settings"]["clip_sha256"] == load_text_encoder(spec7, CPU).sha256 != settings["clip_sha256"]
    assert other["clip_score"] == pytest.approx(manual_clip_score(made_folder, spec7)[0], abs=1e-4)


class _SignedImageEncoder(torch.nn.Module):
    """An image tower whose embedding is +v for a bright image and −v for a dark one: cos = ±1 with v."""

    def __init__(self, v: torch.Tensor) -> None:
        super().__init__()
        self.v = torch.nn.Parameter(v.clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sign = torch.where(x.flatten(1).mean(1) > 0, 1.0, -1.0)
        return sign[:, None] * self.v[None]


def _bright_and_dark(folder: Path, caption: str) -> Path:
    folder.mkdir()
    for name, value in (("bright", 255), ("dark", 0)):
        Image.new("RGB", (SIZE, SIZE), (value,) * 3).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text(caption + "\n")
    return folder


def test_clip_score_clips_the_mean_at_zero_as_torchmetrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text_enc = load_text_encoder(ClipSpec(model="cgan-tiny"), CPU)
    v = text_enc.encode([RED]).pooled[0]
    stub = _SignedImageEncoder(v)
    bright = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    dark = Image.new("RGB", (SIZE, SIZE), (0, 0, 0))
    scores = clip_scores([bright, dark, dark, None], [RED] * 4, stub, text_enc)  # type: ignore[arg-type]
    assert scores[:3].tolist() == pytest.approx([100.0, -100.0, -100.0], abs=1e-3)  # per image: not clipped
    assert torch.isnan(scores[3])
    assert clip_score(scores) == 0.0  # the mean, −33.3, clipped
    assert clip_score(scores[[0, 0, 0, 1]]) == pytest.approx(50.0, abs=1e-3)  # per-image clipping would give 75
    # and through the CLI, whose image tower is the stub: one bright, one dark → mean 0
    monkeypatch.setattr(clip_module, "load_image_encoder", lambda spec, dev: stub)
    report = clip_json(str(_bright_and_dark(tmp_path / "bd", RED)), *TINY_CLIP)
    assert report["clip_score"] == pytest.approx(0.0, abs=1e-3)


def test_clip_score_of_a_folder_with_an_uncaptioned_image(made_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "made"
    shutil.copytree(made_folder, folder)
    (folder / "a-blue-square/seed000001.txt").unlink()
    line = one_line_error(cgan("eval", str(folder), "--clip-score", *TINY_CLIP), 1)
    assert "a-blue-square/seed000001.png" in line and "image has no captions" in line, line


def test_clip_score_of_a_text_checkpoint_equals_that_of_the_folder_text2img_writes(
    gigagan: Path, captions_dir: Path, tmp_path: Path
) -> None:
    """`eval REAL CKPT --clip-score`: image i from real image i's first caption at seed i. One image per
    forward pass on both sides (-b 1): gigagan's pixels move by a level between batch sizes (see the
    batch-size test), which moves the score by ~2e-4."""
    real = sorted(captions_dir.glob("*.png"))
    firsts = [p.with_suffix(".txt").read_text().splitlines()[0] for p in real]
    assert len(set(firsts)) < len(firsts)  # repeated captions: one prompt, several seeds
    out = tmp_path / "made"
    for caption in dict.fromkeys(firsts):
        seeds = ",".join(str(i) for i, c in enumerate(firsts) if c == caption)
        text2img(gigagan, out, caption, "--seeds", seeds, "-b", "1")
    assert len(list(out.rglob("*.png"))) == len(real)
    from_ckpt = clip_json(str(captions_dir), str(gigagan), *TINY_CLIP, "-b", "1")
    from_folder = clip_json(str(out), *TINY_CLIP, "-b", "1")
    assert from_ckpt["settings"]["fake_count"] == len(real)
    assert from_ckpt["clip_score"] == pytest.approx(from_folder["clip_score"], abs=1e-4)
    assert from_ckpt["clip_score"] == pytest.approx(manual_clip_score(out)[0], abs=1e-4)
    # at the default batch sizes: the same up to those one-level pixel moves
    default = clip_json(str(captions_dir), str(gigagan), *TINY_CLIP)
    assert default["clip_score"] == pytest.approx(from_folder["clip_score"], abs=2e-3)
