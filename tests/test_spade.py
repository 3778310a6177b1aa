"""SPADE / GauGAN: label maps as data, the SPADE layer against a restatement of Park et al.'s normalisation,
every network's forward pass, learning on tiny data, exact resume, translate and export through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_cli import one_line_error, pixels
from helpers_labels import COLOURS, PALETTE, label_array, tiny_vgg19, write_labels
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.data.labels import LabelMapDataset, LabelPairs, Palette, auto_palette, read_palette
from cgan_cli.data.paired import find_folder_pairs
from cgan_cli.data.transforms import Preprocess
from cgan_cli.errors import DataError
from cgan_cli.families.spade import SPADE as SPADEFamily
from cgan_cli.families.spade import load_vgg19
from cgan_cli.nn.spade import SPADE, MultiscaleDiscriminator, SPADEConfig, SPADEDiscriminatorConfig, SPADEGenerator

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")
TINY = ("--ngf", "2", "--ndf", "4", "--spade-hidden", "8", "--n-layers-d", "3", "--load-size", "64",
        "--crop-size", "64", "--no-vgg", "--save-every", "1000", "--sample-every", "1000",
        "--log-every", "1")  # fmt: skip


@pytest.fixture(scope="module")
def labels_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labels(tmp_path_factory.mktemp("labels"))


def cgan(*args: str):
    return CliRunner().invoke(app, list(args))


# --- label maps as data ---------------------------------------------------------------------------------------


def test_index_maps_keep_their_values_through_nearest_resizing_and_flips(labels_dir):
    data = LabelPairs(find_folder_pairs(labels_dir, "labels", "images"), "A")
    ds = LabelMapDataset(data, Palette(("a", "b", "c")), Preprocess("resize_and_crop", 77, 64, True, 32))
    flipped = 0
    for seed in range(6):
        item = ds[(1, seed)]
        lab, photo = item["label"][0], item["target"]
        assert set(lab.unique().tolist()) == {0, 1, 2}  # never a blend of two classes
        # the photo's colour follows the label map's class away from edges: the same crop and flip on both
        colour = torch.tensor(COLOURS, dtype=torch.float32)[lab].permute(2, 0, 1) / 127.5 - 1
        inner = F.max_pool2d((lab[None, None] != F.avg_pool2d(lab[None, None].float(), 3, 1, 1)).float(), 3, 1, 1)
        keep = inner[0, 0] == 0
        assert (photo - colour).abs()[:, keep].mean() < 0.15
        flipped += int(lab[0, 0] == 1)  # class 1 is on the right of the file
    assert 0 < flipped < 6


def test_a_value_outside_the_class_list_names_the_file_and_value(labels_dir):
    data = LabelPairs(find_folder_pairs(labels_dir, "labels", "images"), "A")
    ds = LabelMapDataset(data, Palette(("a", "b")), Preprocess("none", 64, 64, False, 32))
    with pytest.raises(DataError, match=r"0\.png: label value 2 is outside the class list \(0-1\)"):
        ds[(0, 0)]


def test_palette_file_maps_colour_coded_maps_and_refuses_unknown_colours(tmp_path):
    root = write_labels(tmp_path / "coded", count=2, coded=True)
    (tmp_path / "p.json").write_text(json.dumps(PALETTE))
    palette = read_palette(tmp_path / "p.json", 96.0)
    img = Image.open(root / "labels" / "1.png")
    assert np.array_equal(palette.indices(img, "x"), label_array(1))
    csv = tmp_path / "p.csv"
    csv.write_text("sky,255,0,0\ntree,#00ff00\n")
    with pytest.raises(DataError, match=r"m\.png: colour #0000ff is not in the palette"):
        read_palette(csv, 96.0).indices(img, "m.png")


def test_auto_palette_merges_jpeg_noise_into_the_colours_found():
    rng = np.random.default_rng(0)
    lab = label_array(3)
    rgb = np.asarray([(255, 0, 0), (0, 255, 0), (0, 0, 255)])[lab] + rng.integers(-20, 21, (64, 64, 3))
    palette = auto_palette([rgb.clip(0, 255)], 96.0)
    assert len(palette) == 3 and not palette.strict
    found = palette.indices(Image.fromarray(rgb.clip(0, 255).astype(np.uint8)), "x")
    order = [palette.colours.index(max(palette.colours, key=lambda c: c[k])) for k in range(3)]  # red, green, blue
    assert np.array_equal(found, np.asarray(order)[lab])


def test_mismatched_sizes_are_a_one_line_error(tmp_path):
    root = write_labels(tmp_path / "d", count=2)
    Image.new("RGB", (48, 64)).save(root / "images" / "1.png")
    result = cgan("train", "spade", "--labels", str(root), "--out", str(tmp_path / "run"), "--device", "cpu", *TINY)
    assert "size mismatch" in one_line_error(result, result.exit_code) and result.exit_code != 0


# --- networks -------------------------------------------------------------------------------------------------


def test_spade_layer_is_park_et_al_normalisation():
    torch.manual_seed(0)
    layer = SPADE(6, 3, hidden=5)
    x, seg = torch.randn(2, 6, 8, 8), F.one_hot(torch.randint(0, 3, (2, 4, 4)), 3).permute(0, 3, 1, 2).float()
    # restated: BN without affine (batch statistics), then x̂·(1 + γ(m)) + β(m) on m resized nearest to x
    mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), unbiased=False, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + 1e-5)
    m = seg.repeat_interleave(2, 2).repeat_interleave(2, 3)
    shared = F.relu(F.conv2d(m, layer.mlp_shared[0].weight, layer.mlp_shared[0].bias, padding=1))
    gamma = F.conv2d(shared, layer.mlp_gamma.weight, layer.mlp_gamma.bias, padding=1)
    beta = F.conv2d(shared, layer.mlp_beta.weight, layer.mlp_beta.bias, padding=1)
    assert torch.allclose(layer(x, seg), x_hat * (1 + gamma) + beta, atol=1e-5)
    assert layer.param_free_norm.weight is None  # no affine parameters of its own


def test_generator_discriminator_and_vgg_forward(tmp_path):
    torch.manual_seed(0)
    G = SPADEGenerator(SPADEConfig(4, 3, ngf=2, hidden=8))
    seg = F.one_hot(torch.randint(0, 4, (2, 64, 96)), 4).permute(0, 3, 1, 2).float()
    out = G(seg)
    assert out.shape == (2, 3, 64, 96) and out.abs().max() <= 1
    D = MultiscaleDiscriminator(SPADEDiscriminatorConfig(7, ndf=4, n_layers=4, num_d=2))
    scales = D(torch.cat([seg, out], 1))
    assert len(scales) == 2 and len(scales[0]) == 5 and scales[0][-1].shape[1] == 1
    assert scales[1][-1].shape[-1] < scales[0][-1].shape[-1]  # the second scale sees a half-size input
    vgg = load_vgg19(tiny_vgg19(tmp_path / "vgg.pth"))
    feats = vgg(out)
    assert [f.shape[1] for f in feats] == [4, 8, 16, 32, 32] and feats[-1].shape[-1] == 96 // 16


# --- training, resume, translate, export ------------------------------------------------------------------------


def train(root: Path, out: Path, *extra: str):
    return cgan("train", "spade", "--labels", str(root), "--out", str(out), "--device", "cpu", *TINY, *extra)


def test_resume_through_the_cli_is_exact(labels_dir, tmp_path):
    common = ("--seed", "3", "--workers", "0", "--batch-size", "2")
    assert train(labels_dir, tmp_path / "a", *common, "--steps", "4").exit_code == 0
    first = train(labels_dir, tmp_path / "b", *common, "--steps", "2")
    assert first.exit_code == 0, first.output
    resumed = cgan("train", "--resume", str(tmp_path / "b" / "latest.safetensors"), "--steps", "4", "--workers", "0")
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "a" / "latest.safetensors")
    b = load_checkpoint(tmp_path / "b" / "latest.safetensors")
    assert a.step == b.step == 4 and a.config["class_names"] == ["0", "1", "2"]
    keys = [k for k in a.tensors if k.startswith(("net/", "optim/"))]
    assert len(keys) > 50 and all(torch.equal(a.tensors[k], b.tensors[k]) for k in keys)
    early = load_checkpoint(tmp_path / "b" / "step-0000002.safetensors")
    assert not torch.equal(early.tensors["net/G/conv_img.weight"], a.tensors["net/G/conv_img.weight"])


def test_vgg_weights_from_a_file_train_and_a_missing_file_is_an_error(labels_dir, tmp_path):
    vgg = tiny_vgg19(tmp_path / "vgg.pth")
    tiny = [a for a in TINY if a != "--no-vgg"]
    args = ("train", "spade", "--labels", str(labels_dir), "--device", "cpu", *tiny, "--steps", "1", "--workers", "0")
    ok = cgan(*args, "--out", str(tmp_path / "r"), "--vgg-weights", str(vgg))
    assert ok.exit_code == 0, ok.output
    log = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert any("G_VGG" in str(entry) for entry in log)
    bad = cgan(*args, "--out", str(tmp_path / "r2"), "--vgg-weights", str(tmp_path / "none.pth"))
    assert bad.exit_code != 0 and "none.pth: no such file" in bad.output + bad.stderr


def test_spade_learns_the_colour_of_each_class(labels_dir):
    from cgan_cli.config.spade import SPADEConfig as Config

    cfg = Config(labels=str(labels_dir), ngf=4, ndf=4, spade_hidden=8, n_layers_d=3, load_size=64, crop_size=64,
                 vgg=False, lr=1e-3, batch_size=2)  # fmt: skip
    family = SPADEFamily(cfg, CPU)
    batch = family.validation_batch()

    def error() -> float:
        with torch.no_grad():
            family.G.eval()
            from cgan_cli.data.labels import one_hot

            out = family.G(one_hot(batch["label"], 3))
            family.G.train()
        return float((out - batch["target"]).abs().mean())

    before = error()
    ds = family.dataset()
    for step in range(60):
        items = [ds[(i, step)] for i in ((2 * step) % 6, (2 * step + 1) % 6)]
        family.train_step({k: torch.stack([it[k] for it in items]) for k in ("label", "target")})
    assert error() < 0.5 * before


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_translate_and_export_through_the_cli(labels_dir, tmp_path):
    assert train(labels_dir, tmp_path / "run", "--steps", "1", "--workers", "0").exit_code == 0
    ckpt = tmp_path / "run" / "latest.safetensors"
    src = tmp_path / "in"
    src.mkdir()
    lab = Image.fromarray(label_array(2, 64)[:40, :56], mode="P")  # not a multiple of 32: padded, cropped back
    lab.save(src / "a.png")
    result = cgan("translate", str(ckpt), str(src), "--out", str(tmp_path / "out"), "--device", "cpu",
                  "--precision", "fp32")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = pixels(tmp_path / "out" / "a.png")
    assert out.shape == (40, 56, 3)
    Image.fromarray(np.full((40, 56), 7, np.uint8), mode="L").save(src / "a.png")
    bad = cgan("translate", str(ckpt), str(src), "--out", str(tmp_path / "o2"), "--device", "cpu")
    assert bad.exit_code != 0 and "label value 7 is outside the class list" in bad.output + bad.stderr
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    onnx_path = tmp_path / "g.onnx"
    exported = cgan("export", str(ckpt), "--out", str(onnx_path))
    assert exported.exit_code == 0, exported.output + exported.stderr
    session = ort.InferenceSession(str(onnx_path))
    seg = F.one_hot(torch.from_numpy(label_array(2, 64)).long(), 3).permute(2, 0, 1)[None].float()
    (got,) = session.run(None, {session.get_inputs()[0].name: seg.numpy()})
    family_cls, ck = SPADEFamily, load_checkpoint(ckpt)
    G = SPADEGenerator(SPADEConfig(3, 3, ngf=2, hidden=8))
    G.load_state_dict(ck.sub("net/G"))
    want = G.eval()(seg).detach().numpy()
    assert family_cls.name == "spade" and np.abs(got - want).max() < 1e-4


def test_aligned_colour_coded_pairs_train_and_translate_with_the_checkpoint_palette(tmp_path):
    coded = write_labels(tmp_path / "coded", count=4, coded=True)
    aligned = tmp_path / "aligned" / "train"
    aligned.mkdir(parents=True)
    for i in range(4):  # photo | label map, as pix2pix's facades
        photo, lab = Image.open(coded / "images" / f"{i}.png"), Image.open(coded / "labels" / f"{i}.png")
        both = Image.new("RGB", (128, 64))
        both.paste(photo, (0, 0))
        both.paste(lab, (64, 0))
        both.paste((255, 255, 0), (0, 0, 64, 16))  # yellow in the photo half: no class, never read as labels
        both.save(aligned / f"{i}.png")
    (tmp_path / "p.json").write_text(json.dumps(PALETTE))
    run = cgan("train", "spade", "--paired", str(tmp_path / "aligned"), "--label-side", "B", "--palette",
               str(tmp_path / "p.json"), "--out", str(tmp_path / "run"), "--device", "cpu", *TINY, "--steps", "1",
               "--workers", "0")  # fmt: skip
    assert run.exit_code == 0, run.output
    ckpt = tmp_path / "run" / "latest.safetensors"
    assert load_checkpoint(ckpt).config["class_names"] == list(PALETTE)
    src = tmp_path / "in"
    src.mkdir()
    Image.open(coded / "labels" / "2.png").crop((0, 0, 64, 48)).save(src / "m.png")
    ok = cgan("translate", str(ckpt), str(src), "--out", str(tmp_path / "out"), "--device", "cpu")
    assert ok.exit_code == 0, ok.output
    assert pixels(tmp_path / "out" / "m.png").shape == (48, 64, 3)
    aligned_out = cgan("translate", str(ckpt), str(aligned / "1.png"), "--aligned", "--out", str(tmp_path / "al"),
                       "--device", "cpu")  # fmt: skip
    assert aligned_out.exit_code == 0, aligned_out.output  # the photo half's colours are not read as labels
    assert pixels(tmp_path / "al" / "1.png").shape == (64, 64, 3)
    Image.new("RGB", (64, 48), (255, 255, 0)).save(src / "m.png")  # yellow: in no class
    bad = cgan("translate", str(ckpt), str(src), "--out", str(tmp_path / "o2"), "--device", "cpu")
    assert bad.exit_code != 0 and "colour #ffff00 is not in the palette" in bad.output + bad.stderr
