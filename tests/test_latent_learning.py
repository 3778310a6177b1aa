"""Class-conditional models learn their classes: samples asked for class k are classified as k, by a
small classifier trained here on the real images, far above chance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_classes import write_classes
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.cli import app
from cgan_cli.data.classes import LabelledDataset, find_classes


def features(images: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(images, 4).flatten(1)  # (N, 3·4·4)


def train_classifier(images: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.nn.Module:
    torch.manual_seed(0)
    clf = torch.nn.Linear(features(images).shape[1], classes)
    opt = torch.optim.Adam(clf.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(clf(features(images)), labels).backward()
        opt.step()
    return clf


@pytest.mark.parametrize(
    "family",
    ["cgan", pytest.param("acgan", marks=pytest.mark.slow), pytest.param("cgan-concat", marks=pytest.mark.slow)],
)
def test_samples_of_class_k_look_like_class_k(family, tmp_path):
    data = write_classes(tmp_path / "data", per_class=32)
    extra = ["--d-cond", "concat"] if family == "cgan-concat" else []
    result = CliRunner().invoke(
        app,
        ["train", family.split("-")[0], "--classes", str(data), "--out", str(tmp_path / "run"), "--image-size", "32",
         "--ngf", "16", "--ndf", "16", "--batch-size", "16", "--lr", "1e-3", "--epochs", "50", "--steps", "200",
         "--seed", "1", "--device", "cpu", "--workers", "0", "--log-every", "100", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    found = find_classes(data)
    ds = LabelledDataset(found, 32, 3)
    real = torch.stack([ds[(i, 0)]["image"] for i in range(len(ds))])
    labels = torch.tensor([label for _, label in found.items])
    clf = train_classifier(real, labels, len(found.names))
    assert (clf(features(real)).argmax(1) == labels).float().mean() == 1.0  # the classifier itself is right

    out = tmp_path / "samples"
    result = CliRunner().invoke(
        app, ["sample", str(tmp_path / "run" / "latest.safetensors"), "--out", str(out), "--class", "all", "-n", "20"]
    )
    assert result.exit_code == 0, result.output
    correct = total = 0
    for k, name in enumerate(found.names):
        files = sorted((out / name).glob("*.png"))
        assert len(files) == 20
        images = torch.stack(
            [torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), np.float32) / 127.5 - 1).permute(2, 0, 1)
             for f in files]
        )  # fmt: skip
        correct += int((clf(features(images)).argmax(1) == k).sum())
        total += len(files)
    accuracy = correct / total
    assert accuracy >= 0.8, f"class accuracy of samples {accuracy:.2f} (chance 0.33)"
