"""gancls and gigagan: the matching-aware terms, GAN-INT, MA-GP, the CLIP loss, caption-feature
caching, encoder identity, and exact resume through the CLI."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.errors import CheckpointError
from cgan_cli.families import create, family_class
from cgan_cli.families.gancls import GANCLS
from cgan_cli.families.gigagan import clip_contrastive, matching_aware_losses
from cgan_cli.text.clip import TextEncoder
from tests.conftest import TINY_GIGAGAN, TINY_TEXT

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")


def family(name: str, captions_dir, **overrides):
    base = TINY_GIGAGAN if name == "gigagan" else TINY_TEXT
    return create(name, family_class(name).Config(captions=str(captions_dir), **{**base, **overrides}), CPU)


def batch_of(fam, indices: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    from torch.utils.data import default_collate

    data = fam.dataset()
    return default_collate([data[(i, seed)] for i in indices])


def test_mismatched_captions_belong_to_other_images(captions_dir):
    fam = family("gancls", captions_dir)
    table = fam.table
    for indices in ([0, 3, 5, 9], [7], [2, 2 + 1]):  # a batch of one; two captions of one image
        captions = torch.tensor(indices)
        wrong = table.mismatched(captions)
        assert (table.image_of[wrong] != table.image_of[captions]).all()
    # the batch shifted by one, where that already is another image's caption
    captions = torch.tensor([0, 4, 8, 12])
    assert table.mismatched(captions).tolist() == [12, 0, 4, 8]
    assert table.mismatched(torch.tensor([7])).tolist() == [8]  # alone: the next image's caption


@pytest.mark.parametrize("name", ["gancls", "gigagan"])
def test_the_step_scores_real_images_against_another_images_caption(name, captions_dir):
    fam = family(name, captions_dir)
    seen: list[torch.Tensor] = []
    lookup = fam.text_of

    def spy(captions):
        seen.append(captions.clone())
        return lookup(captions)

    fam.text_of = spy
    batch = batch_of(fam, [0, 3, 6, 9])
    losses = fam.train_step(batch)
    right, wrong = seen[0], seen[1]
    assert torch.equal(right, batch["caption"])
    assert (fam.table.image_of[wrong] != fam.table.image_of[right]).all()
    assert "D_wrong" in losses and torch.isfinite(losses["D_wrong"])


def test_matching_aware_losses_are_finite_for_huge_logits():
    big = torch.tensor([1e4, -1e4, 3e38])
    d_real, d_fake, d_wrong = matching_aware_losses(big, big, big)
    assert all(torch.isfinite(t) for t in (d_real, d_fake, d_wrong))
    # softplus(-x) for real, softplus(x) for fakes and mismatched pairs
    torch.testing.assert_close(d_real, F.softplus(-big).mean())
    naive = -torch.log(1 - torch.sigmoid(torch.tensor([1e4])))  # what the log σ form gives
    assert not torch.isfinite(naive).all()


def test_gancls_loss_feeds_g_the_midpoint_of_two_captions(captions_dir):
    fam = family("gancls", captions_dir, loss="gancls")
    calls: list[torch.Tensor] = []
    run_G = fam.run_G

    def spy(z, sentence):
        calls.append(sentence.detach().clone())
        return run_G(z, sentence)

    fam.run_G = spy
    batch = batch_of(fam, [0, 3, 6, 9])
    losses = fam.train_step(batch)
    assert "D_magp" not in losses  # MA-GP is DF-GAN's, not Reed's
    right = fam.table.gather(batch["caption"]).pooled
    wrong = fam.table.gather(fam.table.mismatched(batch["caption"])).pooled
    assert len(calls) == 2
    torch.testing.assert_close(calls[0], right)
    torch.testing.assert_close(calls[1], (right + wrong) / 2)


def test_hinge_d_loss_halves_the_wrong_and_fake_terms_and_adds_magp(captions_dir, monkeypatch):
    fam = family("gancls", captions_dir)
    totals: list[torch.Tensor] = []
    backward = torch.Tensor.backward

    def spy(self, *args, **kwargs):
        totals.append(self.detach())
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", spy)
    losses = fam.train_step(batch_of(fam, [0, 3, 6, 9]))
    want = losses["D_real"] + (losses["D_wrong"] + losses["D_fake"]) / 2 + losses["D_magp"]
    torch.testing.assert_close(totals[0], want)  # the first backward is D's
    assert float(losses["D_magp"]) > 0
    assert "D_magp" not in family("gancls", captions_dir, magp=0.0).train_step(batch_of(fam, [0, 3, 6, 9]))


def test_clip_contrastive_prefers_each_image_with_its_own_caption():
    text = F.normalize(torch.randn(4, 8), dim=-1)
    captions = torch.arange(4)
    aligned = clip_contrastive(text * 3, text, captions)
    shuffled = clip_contrastive(text.roll(1, 0) * 3, text, captions)
    assert aligned < shuffled
    # equals CE over cosine/τ when captions are distinct
    logits = F.normalize(text * 3, dim=-1) @ text.T / 0.07
    torch.testing.assert_close(aligned, F.cross_entropy(logits, captions))
    # a caption repeated in the batch is right wherever it occurs: no penalty for choosing its twin
    same = clip_contrastive(text[[0, 0]], text[[0, 0]], torch.tensor([3, 3]))
    torch.testing.assert_close(same, torch.tensor(0.0), atol=1e-5, rtol=0)


def test_caption_features_are_encoded_once_and_cached(captions_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CGAN_CACHE_DIR", str(tmp_path))
    first = family("gancls", captions_dir)
    assert list((tmp_path / "text").glob("*.safetensors"))

    def refuse(self, captions, batch_size=256):
        raise AssertionError("encoded again")

    monkeypatch.setattr(TextEncoder, "encode", refuse)
    second = family("gancls", captions_dir)
    torch.testing.assert_close(second.table.text.pooled, first.table.text.pooled)


def test_a_run_refuses_another_text_encoder(captions_dir):
    fam = family("gancls", captions_dir)
    record = dict(fam.config.text_encoder, sha256="0" * 64)
    with pytest.raises(CheckpointError, match="text encoder"):
        GANCLS(dataclasses.replace(fam.config, text_encoder=record), CPU)


def test_embed_clip_stores_the_text_tower(captions_dir):
    fam = family("gancls", captions_dir, embed_clip=True)
    keys = [k for k in fam.state_tensors() if k.startswith("clip/text/")]
    assert keys and not any(k.startswith("clip/text/") for k in family("gancls", captions_dir).state_tensors())


@pytest.mark.parametrize("name", ["gancls", "gigagan"])
def test_resume_is_bit_identical(name, captions_dir, tmp_path):
    base = TINY_GIGAGAN if name == "gigagan" else TINY_TEXT
    common = ["--captions", str(captions_dir), "--seed", "3", "--ema", "0.9", "--flip", "--device", "cpu",
              "--workers", "0"]  # fmt: skip
    for key, value in base.items():
        common += [f"--{key.replace('_', '-')}", str(value)]
    if name == "gancls":
        common += ["--diffaug", "color,translation"]
    else:
        common += ["--r1-every", "2"]

    def train(out, *extra):
        result = CliRunner().invoke(app, ["train", name, "--out", str(out), *common, *extra])
        assert result.exit_code == 0, result.output

    train(tmp_path / "straight", "--steps", "5")
    train(tmp_path / "split", "--steps", "2")
    resumed = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "split" / "latest.safetensors"),
                                       "--steps", "5", "--workers", "1"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "straight" / "latest.safetensors").tensors
    b = load_checkpoint(tmp_path / "split" / "latest.safetensors").tensors
    assert a.keys() == b.keys() and any(k.startswith("net/G_ema/") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]
    config = json.loads((tmp_path / "split" / "config.json").read_text())["config"]
    assert config["text_encoder"]["model"] == "cgan-tiny" and len(config["sample_prompts"]) == 8


def test_gigagan_without_a_clip_image_tower_trains_without_its_two_terms(captions_dir, tmp_path):
    from safetensors.torch import save_file

    from cgan_cli.text.clip import random_clip_state

    state = random_clip_state("cgan-tiny", 0)
    text_only = tmp_path / "text-only.safetensors"
    save_file({k: v.contiguous() for k, v in state.items() if not k.startswith("visual.")}, str(text_only))
    fam = family("gigagan", captions_dir, clip_weights=str(text_only))
    assert fam.vision is None and "D_vision" not in fam.nets
    losses = fam.train_step(batch_of(fam, [0, 3, 6, 9]))
    assert "G_clip" not in losses and "D_vision" not in losses
    with_tower = family("gigagan", captions_dir)
    assert with_tower.vision is not None and "D_vision" in with_tower.nets
    assert {"G_clip", "G_vision", "D_vision"} <= set(with_tower.train_step(batch_of(with_tower, [0, 3, 6, 9])))


def test_gancls_keeps_no_token_features_and_gigagan_does(captions_dir):
    assert family("gancls", captions_dir).table.text.tokens.shape[1] == 0
    tokens = family("gigagan", captions_dir).table.text.tokens
    assert tokens.shape[1] > 2 and tokens.dtype == torch.float16


def test_a_mismatched_caption_never_has_the_same_words(tmp_path):
    from helpers_captions import draw

    for i, caption in enumerate(["a red circle", "a red circle", "a blue square"]):
        draw("red", "circle").save(tmp_path / f"{i}.png")
        (tmp_path / f"{i}.txt").write_text(caption + "\n")
    table = family("gancls", tmp_path).table
    wrong = table.mismatched(torch.tensor([1, 0]))  # images 0 and 1 share their words
    assert (table.text_id[wrong] != table.text_id[torch.tensor([1, 0])]).all()


def test_resume_refuses_captions_that_changed(tmp_path):
    from helpers_captions import write_captioned

    from cgan_cli.errors import DataError

    data = write_captioned(tmp_path / "data", per_kind=1)
    fam = family("gancls", data)
    (data / "red-circle-0.txt").write_text("a crimson disc\n")
    with pytest.raises(DataError, match="captions changed"):
        GANCLS(fam.config, CPU)


def test_sample_grid_rows_share_a_latent_across_prompts(captions_dir):
    batch = family("gancls", captions_dir).validation_batch()
    z, prompts = batch["z"].view(4, 8, -1), batch["caption"].view(4, 8)
    assert torch.equal(z[:, :1].expand_as(z), z) and not torch.equal(z[0, 0], z[1, 0])
    assert torch.equal(prompts[:1].expand_as(prompts), prompts) and len(set(prompts[0].tolist())) == 8


def test_text_blends_align_token_ends_so_eot_blends_with_eot():
    from cgan_cli.nn.gigagan_layers import eot_mask
    from cgan_cli.text.clip import ClipSpec, load_text_encoder
    from cgan_cli.text.features import align_ends, mix

    encoder = load_text_encoder(ClipSpec(model="cgan-tiny"), CPU)
    keys = encoder.encode(["a bird", "a small red bird with black wings and a long tail"])
    aligned = align_ends(keys)
    lengths = keys.mask.sum(1)
    for row in range(2):  # the same tokens, moved to the end
        torch.testing.assert_close(aligned.tokens[row, -lengths[row] :], keys.tokens[row, : lengths[row]])
        assert not aligned.tokens[row, : -lengths[row]].any()
    frames = mix(keys, torch.tensor([[1.0, 0.0], [0.99, 0.01], [0.5, 0.5], [0.0, 1.0]]))
    last = keys.tokens.shape[1] - 1
    assert eot_mask(frames.mask).long().argmax(1).tolist() == [last] * 4  # no jump of the EOT position along the walk
    torch.testing.assert_close(frames.tokens[2, last], (keys.tokens[0, lengths[0] - 1] + keys.tokens[1, -1]) / 2)
    assert torch.equal(frames.mask[0], aligned.mask[0]) and torch.equal(frames.mask[3], aligned.mask[1])


def test_resume_clip_weights_applies_to_text_runs_only(classes_dir, tmp_path):
    result = CliRunner().invoke(app, ["train", "dcgan", "--images", str(classes_dir), "--out", str(tmp_path / "r"),
                                      "--image-size", "32", "--ngf", "8", "--ndf", "8", "--steps", "1",
                                      "--device", "cpu", "--workers", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    resumed = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "r" / "latest.safetensors"),
                                       "--clip-weights", str(tmp_path / "x.safetensors")])  # fmt: skip
    assert resumed.exit_code == 2 and "no text encoder" in resumed.output
