"""benchmarks/fashion_mnist.py: its cheap pieces (fast), and a small real run on Fashion-MNIST (slow).

The slow test trains cgan through the CLI on 200 images per class for 500 steps (ngf = ndf = 16) and asks
that the samples of class k are classified as k at least half the time (chance 0.10); about 2.5 minutes
on a shared 2-core CPU, where seeds 0, 1, 2 gave 0.94, 0.88, 0.77. It is skipped without the dataset.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cgan_cli.data.classes import LabelledDataset, find_classes
from cgan_cli.data.idx import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, write_class_folders

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fashion_mnist.py"
_spec = importlib.util.spec_from_file_location("bench_fashion_mnist", SCRIPT)
fm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fm)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_class_accuracy_overall_and_per_class() -> None:
    target = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 2, 2, 2, 2])
    overall, per_class = fm.class_accuracy(pred, target, 4)
    assert overall == pytest.approx(0.8)
    assert per_class[:3] == pytest.approx([0.75, 0.5, 1.0])
    assert per_class[3] is None  # no examples of class 3: not scored, not 0
    with pytest.raises(ValueError):
        fm.class_accuracy(torch.tensor([]), torch.tensor([]), 2)


def test_model_input_is_what_cgan_trains_on(tmp_path: Path) -> None:
    """The classifier sees a 28×28 image exactly as LabelledDataset hands it to cgan: 1×32×32 in [-1, 1]."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 0, 9, 3], dtype=np.uint8)
    write_class_folders(images, labels, tmp_path, FASHION_MNIST_CLASSES)
    found = find_classes(tmp_path)  # folders in sorted name order: labels differ from Fashion-MNIST's
    ds = LabelledDataset(found, 32, 1)
    x = fm.to_model_input(images)
    assert x.shape == (6, 1, 32, 32)
    for i, (path, _) in enumerate(found.items):
        index = int(path.stem)
        assert torch.equal(ds[(i, 0)]["image"], x[index])


def test_samples_are_scored_by_their_folder_names(tmp_path: Path) -> None:
    """`cgan sample --class all` folders → Fashion-MNIST labels (not the sorted folder order), and a
    classifier that tells the classes apart scores 1.0 on them."""
    classes = {"trouser": 0, "bag": 255}  # label 1 dark, label 8 bright
    for name, value in classes.items():
        for seed in range(3):
            path = tmp_path / name / f"seed{seed:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((32, 32), value, np.uint8)).save(path)
    x, y = fm.read_samples(tmp_path)
    assert x.shape == (6, 1, 32, 32)
    assert y.tolist() == [8, 8, 8, 1, 1, 1]  # "bag" sorts first; its Fashion-MNIST label is 8

    g = torch.Generator().manual_seed(0)
    train_y = torch.tensor([1, 8] * 32)
    train_x = torch.where(train_y[:, None, None, None] == 8, 1.0, -1.0) + 0.1 * torch.randn(64, 1, 32, 32, generator=g)
    model = fm.train_classifier(train_x, train_y, epochs=3, device=torch.device("cpu"), batch_size=16)
    overall, per_class = fm.class_accuracy(fm.predict(model, x, torch.device("cpu")), y, fm.NUM_CLASSES)
    assert overall == 1.0
    assert per_class[1] == per_class[8] == 1.0 and per_class[0] is None


def test_train_command_lets_steps_stop_the_run(tmp_path: Path) -> None:
    args = fm.parse_args(["--steps", "1000", "--per-class", "100", "--batch-size", "64", "--ema", "0.999",
                          "--train-args", "--loss hinge --spectral-norm"])  # fmt: skip
    cmd = fm.train_command("acgan", tmp_path / "data", tmp_path / "run", args)
    assert cmd[1:5] == ["-m", "cgan_cli", "train", "acgan"]
    value = {flag: cmd[i + 1] for i, flag in enumerate(cmd[:-1]) if flag.startswith("--")}
    assert value["--steps"] == "1000" and value["--image-size"] == "32" and value["--ema"] == "0.999"
    assert int(value["--epochs"]) * 16 >= 1000  # 1000 images / 64 = 16 steps per epoch
    assert cmd[-3:] == ["--loss", "hinge", "--spectral-norm"]  # --train-args come last, so they win


@pytest.mark.parametrize("as_json", [False, True])
def test_skips_without_the_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    argv = ["--data", str(tmp_path / "absent"), "--work", str(tmp_path / "work")] + (["--json"] if as_json else [])
    assert fm.main(argv) == 0
    out, err = capsys.readouterr()
    message = err if as_json else out
    assert "skipped" in message and "absent" in message
    if as_json:
        (record,) = json_lines(out)
        assert record["benchmark"] == "fashion_mnist" and "absent" in record["skipped"]
    assert not (tmp_path / "work").exists()  # nothing written, nothing trained


def test_skips_when_files_are_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fm").mkdir()
    (tmp_path / "fm" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert fm.main(["--data", str(tmp_path / "fm"), "--work", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "t10k-labels-idx1-ubyte" in out


@pytest.mark.slow
@pytest.mark.skipif(fm.dataset_missing(FASHION_MNIST_DIR) is not None, reason=f"{FASHION_MNIST_DIR} is absent")
def test_cgan_samples_have_the_asked_for_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--family", "cgan", "--per-class", "200", "--steps", "500", "--ngf", "16", "--ndf", "16", "--lr", "1e-3",
        "-n", "50", "--clf-epochs", "1", "--clf-limit", "10000", "--device", "cpu", "--threads", "1",
        "--work", str(tmp_path), "--json",
    ]  # fmt: skip
    assert fm.main(argv) == 0
    (result,) = json_lines(capsys.readouterr().out)
    assert result["family"] == "cgan" and result["steps"] == 500
    assert result["classifier_t10k_accuracy"] >= 0.75  # the judge itself is sound (about 0.81 here)
    assert result["accuracy"] >= 0.5, result  # chance 0.10
    assert (tmp_path / "cgan-grid.png").exists()
