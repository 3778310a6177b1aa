"""The frozen open_clip towers: features equal open_clip's own, weights are read safely and strictly,
and an encoder's identity (sha256) tells a checkpoint whether it is the one it was trained with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.model import convert_to_custom_text_state_dict
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image
from safetensors.torch import save_file

from cgan_cli.errors import CheckpointError, UsageError
from cgan_cli.text import clip
from cgan_cli.text.clip import (
    ClipError,
    ClipSpec,
    check_same,
    encoder_record,
    load_image_encoder,
    load_text_encoder,
    load_text_encoder_from_state,
    spec_from_record,
    text_tower_state,
)

pytestmark = pytest.mark.usefixtures("single_thread")

CPU = torch.device("cpu")
TINY = ClipSpec(model="cgan-tiny", seed=0)
CAPTIONS = ["a photo of a small red bird on a branch", "dog", "", "two cats sleeping"]
SOT, EOT = 49406, 49407


@pytest.fixture(scope="module")
def full_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[open_clip.CLIP, Path]:
    """open_clip's own full CLIP at cgan-tiny size with its own init, and its state dict as safetensors."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = open_clip.CLIP(**clip.model_config("cgan-tiny")).eval()
    path = tmp_path_factory.mktemp("clip") / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, path


@pytest.fixture(scope="module")
def tiny() -> clip.TextEncoder:
    return load_text_encoder(TINY, CPU)


def _one_line_error(excinfo: pytest.ExceptionInfo, *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- features ----------------------------------------------------------------------------------------------


def test_encode_shapes_mask_and_trim(tiny: clip.TextEncoder) -> None:
    tokens = tiny.tokenize(CAPTIONS)
    assert tokens.dtype == torch.int64 and tokens.shape == (4, 77) and tokens.device.type == "cpu"
    real = (tokens != 0).sum(1)  # SOT .. EOT, then zero padding
    assert real.tolist()[1:3] == [3, 2]  # "dog" is one BPE token; "" is SOT, EOT

    feats = tiny.encode(CAPTIONS)
    longest = int(real.max())
    assert feats.tokens.shape == (4, longest, 32) and feats.tokens.dtype == torch.float32
    assert feats.pooled.shape == (4, 32) and feats.pooled.dtype == torch.float32
    assert feats.mask.dtype == torch.bool and feats.mask.shape == (4, longest)
    assert feats.mask.sum(1).tolist() == real.tolist()
    for row, n in enumerate(real.tolist()):
        assert feats.mask[row, :n].all() and not feats.mask[row, n:].any()
        assert tokens[row, 0] == SOT and tokens[row, n - 1] == EOT

    # the trim loses nothing: the full-context forward agrees position by position
    full = tiny(tokens)
    assert full.tokens.shape == (4, 77, 32) and full.mask.shape == (4, 77)
    torch.testing.assert_close(feats.tokens, full.tokens[:, :longest])
    torch.testing.assert_close(feats.pooled, full.pooled)
    assert torch.equal(feats.mask, full.mask[:, :longest])

    assert tiny.encode(["dog", ""]).tokens.shape[1] == 3  # trimmed to this call's longest caption
    # batches of different lengths are trimmed to one common L
    batched = tiny.encode(CAPTIONS, batch_size=1)
    torch.testing.assert_close(batched.tokens, feats.tokens)
    torch.testing.assert_close(batched.pooled, feats.pooled)


def test_encoder_is_frozen_and_stays_in_eval(tiny: clip.TextEncoder) -> None:
    assert not any(p.requires_grad for p in tiny.parameters())
    tiny.train()
    assert not tiny.training and not tiny.tower.training
    assert not tiny.encode(["dog"]).pooled.requires_grad


def test_text_features_equal_open_clip(full_clip: tuple[open_clip.CLIP, Path]) -> None:
    model, path = full_clip
    enc = load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    tokens = enc.tokenize(CAPTIONS)
    with torch.no_grad():
        pooled = model.encode_text(tokens)
        x = model.token_embedding(tokens) + model.positional_embedding
        per_token = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))
    feats = enc.encode(CAPTIONS)
    torch.testing.assert_close(feats.pooled, pooled, atol=1e-5, rtol=0)
    torch.testing.assert_close(feats.tokens, per_token[:, : feats.tokens.shape[1]], atol=1e-5, rtol=0)
    assert enc.sha256 != load_text_encoder(TINY, CPU).sha256


def test_image_features_equal_open_clip(full_clip: tuple[open_clip.CLIP, Path]) -> None:
    model, path = full_clip
    enc = load_image_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    assert enc.image_size == 32 and enc.embed_dim == 32
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model.encode_image(((images + 1) / 2 - mean) / std)
        ours = enc(images)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("hw", [(48, 40), (20, 30)])
def test_image_preprocessing_matches_open_clip_transform(
    full_clip: tuple[open_clip.CLIP, Path], hw: tuple[int, int]
) -> None:
    """Other sizes: shorter side resized (bicubic, antialiased) and centre-cropped, as open_clip's PIL
    pipeline does; the two differ only by PIL's 8-bit rounding between its passes."""
    model, path = full_clip
    enc = load_image_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    pixels = np.random.default_rng(0).integers(0, 256, (*hw, 3), dtype=np.uint8)  # detail that aliases
    reference = image_transform_v2(PreprocessCfg(size=32), is_train=False)(Image.fromarray(pixels))[None]
    images = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
    diff = (enc.preprocess(images) - reference).abs()
    assert diff.shape == (1, 3, 32, 32)
    assert diff.mean() < 0.02 and diff.max() < 0.5  # without antialiasing the mean is 0.06 to 0.4
    with torch.no_grad():
        similarity = torch.cosine_similarity(enc(images), model.encode_image(reference))
    assert similarity.item() > 0.999


def test_image_encoder_gradient_reaches_pixels() -> None:
    enc = load_image_encoder(TINY, CPU)
    assert not any(p.requires_grad for p in enc.parameters())
    for shape in [(2, 3, 32, 32), (2, 3, 40, 56), (2, 1, 24, 24)]:
        images = (torch.rand(shape, generator=torch.Generator().manual_seed(1)) * 2 - 1).requires_grad_()
        out = enc(images)
        assert out.shape == (2, 32)
        out.square().sum().backward()
        assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


# --- weights files -----------------------------------------------------------------------------------------


def test_bin_layouts_load_the_same_encoder(full_clip: tuple[open_clip.CLIP, Path], tmp_path: Path) -> None:
    """torch.save files (read weights_only), an open_clip training checkpoint with DDP names, and the
    CustomTextCLIP layout ("text." keys) all give the encoder the safetensors file gives."""
    model, path = full_clip
    reference = load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    state = model.state_dict()
    files = {
        "open_clip_pytorch_model.bin": state,
        "epoch_3.pt": {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}},
        "custom_text.pth": convert_to_custom_text_state_dict(dict(state)),
        # the causal-mask buffer, which some exports save, in either layout
        "attn_mask.bin": {**state, "attn_mask": model.attn_mask},
        "text_attn_mask.bin": {**convert_to_custom_text_state_dict(dict(state)), "text.attn_mask": model.attn_mask},
    }
    for name, obj in files.items():
        torch.save(obj, tmp_path / name)
        enc = load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(tmp_path / name)), CPU)
        assert enc.sha256 == reference.sha256, name
        torch.testing.assert_close(enc.encode(CAPTIONS).pooled, reference.encode(CAPTIONS).pooled)
    images = torch.zeros(1, 3, 32, 32)
    custom = load_image_encoder(ClipSpec(model="cgan-tiny", weights=str(tmp_path / "custom_text.pth")), CPU)
    expected = load_image_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    torch.testing.assert_close(custom(images), expected(images))


def test_sha256_stable_distinct_and_rng_untouched(tmp_path: Path) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(987)  # a state no load can end in by seeding the global RNG itself
        before = torch.get_rng_state()
        a = load_text_encoder(TINY, CPU)
        load_image_encoder(TINY, CPU)
        assert torch.equal(torch.get_rng_state(), before)
    b = load_text_encoder(TINY, CPU)
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert load_text_encoder(ClipSpec(model="cgan-tiny", seed=1), CPU).sha256 != a.sha256

    # one changed weight is a different encoder
    state = clip.random_clip_state("cgan-tiny", 0)
    save_file(state, str(tmp_path / "same.safetensors"))
    state["ln_final.bias"] = state["ln_final.bias"] + 1e-3
    save_file(state, str(tmp_path / "changed.safetensors"))
    same = load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(tmp_path / "same.safetensors")), CPU)
    changed = load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(tmp_path / "changed.safetensors")), CPU)
    assert same.sha256 == a.sha256  # random_clip_state holds exactly the random init of that seed
    assert changed.sha256 != a.sha256


def test_text_only_file_has_no_image_tower(tmp_path: Path) -> None:
    state = clip.random_clip_state("cgan-tiny", 0)
    path = tmp_path / "text_only.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith("visual.")}, str(path))
    enc = load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    assert enc.sha256 == load_text_encoder(TINY, CPU).sha256
    with pytest.raises(ClipError) as excinfo:
        load_image_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    _one_line_error(excinfo, str(path), "image tower")


def test_unfitting_weights_name_the_file(tmp_path: Path) -> None:
    state = clip.random_clip_state("cgan-tiny", 0)
    cases = {
        "missing.safetensors": ({k: v for k, v in state.items() if k != "ln_final.weight"}, "missing ln_final.weight"),
        "shape.safetensors": ({**state, "positional_embedding": torch.zeros(50, 32)}, "positional_embedding"),
        "extra.safetensors": ({**state, "transformer.extra": torch.zeros(1)}, "unexpected transformer.extra"),
        "visual_only.safetensors": ({k: v for k, v in state.items() if k.startswith("visual.")}, "no text-tower"),
    }
    for name, (tensors, fragment) in cases.items():
        save_file(tensors, str(tmp_path / name))
        with pytest.raises(ClipError) as excinfo:
            load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(tmp_path / name)), CPU)
        _one_line_error(excinfo, str(tmp_path / name), fragment)


class _NotWeights:
    """A pickled object of an arbitrary class: weights_only refuses to rebuild it."""


def test_unreadable_files_are_one_line_clip_errors(tmp_path: Path) -> None:
    save_file(clip.random_clip_state("cgan-tiny", 0), str(tmp_path / "good.safetensors"))
    torch.save(clip.random_clip_state("cgan-tiny", 0), tmp_path / "good.bin")
    files = {
        "absent.safetensors": None,
        "garbage.bin": np.random.default_rng(0).bytes(4096),
        "garbage.safetensors": b"not a safetensors file at all",
        "truncated.safetensors": (tmp_path / "good.safetensors").read_bytes()[:5000],
        "truncated.bin": (tmp_path / "good.bin").read_bytes()[:5000],
        "empty.pt": b"",
    }
    for name, data in files.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    torch.save(_NotWeights(), tmp_path / "object.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    for name in [*files, "object.pt", "list.pt"]:
        with pytest.raises(ClipError) as excinfo:
            load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(tmp_path / name)), CPU)
        _one_line_error(excinfo, str(tmp_path / name))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_archives_are_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "ViT-B-32.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(ClipError) as excinfo:
        load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    _one_line_error(excinfo, str(path), "TorchScript", "safetensors")


def test_bad_names_and_combinations_are_usage_errors() -> None:
    assert "cgan-tiny" in clip.MODEL_NAMES and "ViT-B-32" in clip.MODEL_NAMES
    with pytest.raises(UsageError) as excinfo:
        load_text_encoder(ClipSpec(model="ViT-B-33"), CPU)
    _one_line_error(excinfo, "ViT-B-33", "ViT-B-32")
    with pytest.raises(UsageError):
        load_image_encoder(ClipSpec(model="no-such-model"), CPU)
    with pytest.raises(UsageError):
        load_text_encoder(ClipSpec(model="ViT-B-32", pretrained="openai", weights="w.safetensors"), CPU)
    with pytest.raises(UsageError) as excinfo:
        load_text_encoder(ClipSpec(model="ViT-B-32", pretrained="no_such_tag"), CPU)
    _one_line_error(excinfo, "no_such_tag", "laion2b_s34b_b79k")
    with pytest.raises(UsageError):
        load_text_encoder(ClipSpec(model="cgan-tiny", pretrained="openai"), CPU)


def test_failed_download_says_to_pass_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> str:
        raise OSError("[Errno -2] Name or service not known\nmore detail")

    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", offline)
    with pytest.raises(ClipError) as excinfo:
        load_text_encoder(ClipSpec(model="ViT-B-32", pretrained="laion2b_s34b_b79k"), CPU)
    _one_line_error(excinfo, "could not download", "ViT-B-32", "laion2b_s34b_b79k", "--clip-weights FILE")


def test_quickgelu_tags_resolve_to_the_quickgelu_config() -> None:
    """OpenAI's weights need QuickGELU; a record naming ViT-B-32-quickgelu rebuilds that encoder from a file."""
    assert clip.resolve_spec(ClipSpec(model="ViT-B-32", pretrained="openai")).model == "ViT-B-32-quickgelu"
    assert clip.resolve_spec(ClipSpec(model="ViT-B-32", pretrained="laion2b_s34b_b79k")).model == "ViT-B-32"
    assert clip.resolve_spec(ClipSpec(model="ViT-B-32", weights="w.safetensors")).model == "ViT-B-32"


def test_describe() -> None:
    assert ClipSpec(model="ViT-B-32", pretrained="openai").describe() == "ViT-B-32 (openai)"
    assert TINY.describe() == "cgan-tiny (random init, seed 0)"
    assert ClipSpec(model="cgan-tiny", pretrained="none", seed=3).describe() == "cgan-tiny (random init, seed 3)"
    described = ClipSpec(model="ViT-B-32", weights="w.safetensors").describe()
    assert described == f"ViT-B-32 ({Path('w.safetensors').absolute()})"


# --- identity in checkpoints ------------------------------------------------------------------------------


def test_check_same(tiny: clip.TextEncoder) -> None:
    record = encoder_record(tiny)
    assert set(record) == {"model", "pretrained", "weights", "seed", "sha256", "width", "embed_dim"}
    assert (record["width"], record["embed_dim"]) == (32, 32)
    check_same(record, tiny, "ckpt.safetensors")
    check_same(record, load_text_encoder(spec_from_record(record), CPU), "ckpt.safetensors")

    other = load_text_encoder(ClipSpec(model="cgan-tiny", seed=5), CPU)
    with pytest.raises(CheckpointError) as excinfo:
        check_same(record, other, "ckpt.safetensors")
    _one_line_error(
        excinfo, "ckpt.safetensors", TINY.describe(), other.spec.describe(), "--clip-weights", "trained with"
    )


def test_record_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file(clip.random_clip_state("cgan-tiny", 2), str(path))
    enc = load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(path)), CPU)
    spec = spec_from_record(encoder_record(enc))
    assert spec == ClipSpec(model="cgan-tiny", weights=str(path.absolute()), seed=0)
    with pytest.raises(CheckpointError):
        spec_from_record({"sha256": "x"})


def test_embedded_state_round_trip(tiny: clip.TextEncoder) -> None:
    state = text_tower_state(tiny)
    assert all(t.device.type == "cpu" for t in state.values()) and not any(k.startswith("visual") for k in state)
    restored = load_text_encoder_from_state(TINY, state, CPU)
    assert restored.sha256 == tiny.sha256
    torch.testing.assert_close(restored.encode(CAPTIONS).tokens, tiny.encode(CAPTIONS).tokens)
    state["ln_final.weight"] = state["ln_final.weight"][:5]
    with pytest.raises(CheckpointError) as excinfo:
        load_text_encoder_from_state(TINY, state, CPU)
    _one_line_error(excinfo, "ln_final.weight")


# --- the developer entry point ---------------------------------------------------------------------------


def test_random_weights_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "tiny.safetensors"
    assert clip.main(["--model", "cgan-tiny", "--seed", "4", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.safetensors"]  # no temp file left behind
    from safetensors.torch import load_file

    model = open_clip.CLIP(**clip.model_config("cgan-tiny"))
    model.load_state_dict(load_file(str(out)), strict=True)  # open_clip's own names, every key
    enc = load_text_encoder(ClipSpec(model="cgan-tiny", weights=str(out)), CPU)
    assert enc.sha256 == load_text_encoder(ClipSpec(model="cgan-tiny", seed=4), CPU).sha256
    assert clip.main(["--out", str(tmp_path / "tiny.bin")]) == 2
