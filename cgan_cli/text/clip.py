"""Frozen open_clip towers: the text tower conditions text-to-image GANs, the image tower scores them.

Only the tower asked for is built and held (a ViT-L text tower alone is a quarter of the full model),
straight from open_clip's config and its own tower builders, so features match `encode_text` /
`encode_image` exactly. Which encoder a spec names, and reading its weights (only as tensors: safetensors,
or `torch.load(weights_only=True)`; never a pickle that runs code and never a TorchScript archive), are
clip_weights.py's; its public names are re-exported here. `sha256` names the encoder a model was
trained with, so a checkpoint can refuse to run on different text features instead of running badly.

`python -m cgan_cli.text.clip --model cgan-tiny --seed 0 --out FILE.safetensors` writes a full CLIP state
dict with random weights, for tests and offline demos.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.errors import CganError, CheckpointError, UsageError
from cgan_cli.text.clip_weights import (
    TINY,
    ClipError,
    ClipSpec,
    Plan,
    load_strict,
    make_plan,
    model_names,
    text_part,
    visual_part,
    weights_for,
)
from cgan_cli.text.clip_weights import model_config as model_config  # these three: re-exported, as before the split
from cgan_cli.text.clip_weights import read_weights as read_weights
from cgan_cli.text.clip_weights import resolve_spec as resolve_spec
from cgan_cli.weights import first_line, tensor_digest

# the tensor header of an encoder's sha256, as checkpoints have recorded it (so they still recognise theirs)
_DIGEST_ENTRY = "{key}|{dtype}|{shape}"


@dataclass
class TextFeatures:
    tokens: torch.Tensor  # (N, L, width) after ln_final, before the projection: for cross-attention
    pooled: torch.Tensor  # (N, embed_dim) as encode_text gives it, unnormalised
    mask: torch.Tensor  # (N, L) bool: True for SOT .. EOT inclusive


def __getattr__(name: str) -> Any:
    # MODEL_NAMES on first use: importing open_clip costs seconds that most commands never need
    if name == "MODEL_NAMES":
        return model_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Random init from `seed` on the CPU, leaving the caller's RNG exactly as it was."""
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.manual_seed(seed)
        yield


def _tower_seed(seed: int, tower: str) -> int:
    # each tower its own stream, so a text tower's init does not depend on whether a visual one was built
    digest = hashlib.sha256(f"cgan-clip:{tower}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# --- the text tower --------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _tokenizer(model: str, context_length: int) -> Any:
    # a tokenizer parses its vocabulary on creation (~0.5 s); every encoder of a model shares one
    import open_clip

    if model == TINY:
        return open_clip.SimpleTokenizer(context_length=context_length)
    return open_clip.get_tokenizer(model, context_length=context_length)


class TextEncoder(nn.Module):
    """open_clip's text tower, frozen and always in eval mode: captions -> token and pooled features."""

    def __init__(self, spec: ClipSpec, tower: nn.Module, sha256: str) -> None:
        super().__init__()
        self.spec = spec
        self.tower = tower
        self.sha256 = sha256
        self.width: int = tower.width
        self.context_length: int = tower.context_length
        proj = tower.text_projection
        self.embed_dim: int = (
            self.width if proj is None else (proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1])
        )
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> TextEncoder:
        """Stays in eval mode: a frozen encoder's features must not depend on the caller's mode."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.tower.token_embedding.weight.device

    def tokenize(self, captions: Sequence[str]) -> torch.Tensor:
        if isinstance(captions, str):
            raise TypeError("tokenize takes a sequence of captions, not one string")
        tokens = _tokenizer(self.spec.model, self.context_length)(list(captions), context_length=self.context_length)
        return tokens.to(device="cpu", dtype=torch.int64)

    def lengths(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N,) tokens up to and including the end token: where the pooled feature is read."""
        if self.tower.pool_type == "argmax":  # open_clip's own rule: EOT is the largest id
            return tokens.argmax(dim=-1) + 1
        index = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)
        last = torch.where(tokens != self.tower.pad_id, index, -1).amax(dim=-1)
        if self.tower.pool_type == "eos":
            is_eos = tokens == self.tower.eos_id
            last = torch.where(is_eos.any(dim=-1), is_eos.int().argmax(dim=-1), last)
        return (last + 1).clamp(min=1)

    def forward(self, tokens: torch.Tensor) -> TextFeatures:
        if tokens.ndim != 2 or tokens.shape[1] != self.context_length:
            raise ValueError(f"tokens must be (N, {self.context_length}), got {tuple(tokens.shape)}")
        tokens = tokens.to(self.device, torch.int64)
        pooled, feats = self.tower(tokens)
        if self.tower.cls_emb is not None:  # CoCa: open_clip returns these tokens before ln_final
            feats = self.tower.ln_final(feats)
        positions = torch.arange(feats.shape[1], device=tokens.device)
        mask = positions[None, :] < self.lengths(tokens)[:, None]
        return TextFeatures(tokens=feats, pooled=pooled, mask=mask)

    @torch.no_grad()
    def encode(self, captions: Sequence[str], batch_size: int = 256) -> TextFeatures:
        """Features of `captions`, the token axis trimmed to the longest one (SOT..EOT): a causal tower's
        features at a position do not depend on later padding, so the trim loses nothing."""
        tokens = self.tokenize(captions)
        if len(tokens) == 0:
            return TextFeatures(
                tokens=torch.zeros(0, 0, self.width, device=self.device),
                pooled=torch.zeros(0, self.embed_dim, device=self.device),
                mask=torch.zeros(0, 0, dtype=torch.bool, device=self.device),
            )
        length = int(self.lengths(tokens).max())
        parts = [self(tokens[i : i + batch_size]) for i in range(0, len(tokens), batch_size)]
        return TextFeatures(
            tokens=torch.cat([p.tokens[:, :length] for p in parts]).float(),
            pooled=torch.cat([p.pooled for p in parts]).float(),
            mask=torch.cat([p.mask[:, :length] for p in parts]),
        )


def _build_text(plan: Plan) -> nn.Module:
    from open_clip.model import _build_text_tower

    with _seeded(_tower_seed(plan.spec.seed, "text")):
        return _build_text_tower(plan.config["embed_dim"], plan.text_cfg(), plan.quick_gelu)


def _digest(plan: Plan, tower: nn.Module) -> str:
    """sha256 over the architecture that shapes the features (config, activation) and the weights: the
    same file under GELU and under QuickGELU is a different encoder."""
    arch = {"embed_dim": plan.config["embed_dim"], "text_cfg": plan.text_cfg(), "quick_gelu": plan.quick_gelu}
    head = json.dumps(arch, sort_keys=True, default=str).encode()
    return tensor_digest(tower.state_dict(), head=head, entry=_DIGEST_ENTRY)


def _text_encoder(
    plan: Plan, state: tuple[dict[str, torch.Tensor], str] | None, error: type, device: torch.device
) -> TextEncoder:
    tower = _build_text(plan)
    if state is not None:
        weights, source = state
        part = text_part(weights)
        if not part:
            raise error(
                f"{source}: no text-tower weights in it (expected open_clip keys such as token_embedding.weight "
                "or text.token_embedding.weight)"
            )
        load_strict(tower, part, source, f"{plan.spec.model} text tower", error)
    _tokenizer_or_error(plan.spec.model, tower.context_length)
    encoder = TextEncoder(plan.spec, tower, _digest(plan, tower))
    return encoder.to(device)


def _tokenizer_or_error(model: str, context_length: int) -> None:
    try:
        _tokenizer(model, context_length)
    except Exception as exc:
        raise ClipError(f"could not load the tokenizer of CLIP model {model}: {first_line(exc)}") from None


def load_text_encoder(spec: ClipSpec, device: torch.device) -> TextEncoder:
    """The frozen text tower `spec` names; no image tower is built or kept."""
    plan = make_plan(spec)
    return _text_encoder(plan, weights_for(plan), ClipError, device)


def text_tower_state(enc: TextEncoder) -> dict[str, torch.Tensor]:
    """The text tower's weights (plain open_clip names) as CPU copies, to embed in a checkpoint."""
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in enc.tower.state_dict().items()}


def load_text_encoder_from_state(
    spec: ClipSpec, state: Mapping[str, torch.Tensor], device: torch.device
) -> TextEncoder:
    """The encoder from weights embedded in a checkpoint (text_tower_state), with no file or download."""
    plan = make_plan(spec)
    return _text_encoder(plan, (dict(state), "the checkpoint's embedded CLIP text encoder"), CheckpointError, device)


def encoder_record(enc: TextEncoder) -> dict[str, object]:
    """What a checkpoint's config stores to rebuild, and to recognise, its text encoder."""
    spec = enc.spec
    return {
        "model": spec.model,
        "pretrained": spec.tag,
        "weights": os.path.abspath(os.path.expanduser(spec.weights)) if spec.weights else "",
        "seed": spec.seed,
        "sha256": enc.sha256,
        "width": enc.width,
        "embed_dim": enc.embed_dim,
    }


def spec_from_record(record: Mapping[str, Any]) -> ClipSpec:
    try:
        return ClipSpec(
            model=str(record["model"]),
            pretrained=str(record.get("pretrained") or ""),
            weights=str(record.get("weights") or ""),
            seed=int(record.get("seed", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint's CLIP encoder record is damaged ({first_line(exc)})") from None


def check_same(record: Mapping[str, Any], enc: TextEncoder, where: str) -> None:
    """Refuse a text encoder other than the one the model was trained with: its features would be noise."""
    if record.get("sha256") == enc.sha256:
        return
    trained = spec_from_record(record).describe()
    raise CheckpointError(
        f"{where}: the model was trained with text encoder {trained} (sha256 {str(record.get('sha256'))[:12]}) "
        f"but the loaded one is {enc.spec.describe()} (sha256 {enc.sha256[:12]}): pass --clip-weights with the "
        "file the model was trained with"
    )


# --- the image tower -------------------------------------------------------------------------------------


def _preprocess_cfg(plan: Plan, size: tuple[int, int]) -> dict[str, Any]:
    """open_clip's preprocessing for these weights: the tag's, or for a file the one every tag of the
    model agrees on (SigLIP's 0.5 mean/std, say), else open_clip's defaults (OpenAI mean/std, bicubic)."""
    from open_clip import pretrained
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    overlay = plan.tag_cfg
    if not overlay and plan.spec.model != TINY:
        keys = ("mean", "std", "interpolation", "resize_mode")
        cfgs = [
            pretrained.get_pretrained_cfg(plan.spec.model, t)
            for t in pretrained.list_pretrained_tags_by_model(plan.spec.model)
        ]
        picks = [{k: tuple(c[k]) if isinstance(c.get(k), list) else c.get(k) for k in keys} for c in cfgs]
        overlay = picks[0] if picks and all(p == picks[0] for p in picks) else {}
    cfg = merge_preprocess_dict(asdict(PreprocessCfg()), overlay)
    cfg["size"] = size
    return cfg


class ImageEncoder(nn.Module):
    """open_clip's image tower, frozen, with its preprocessing done on tensors so gradients reach the
    pixels (a generator's CLIP loss backpropagates through it)."""

    def __init__(self, spec: ClipSpec, visual: nn.Module, embed_dim: int, preprocess: Mapping[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.visual = visual
        self.embed_dim = embed_dim
        self.image_hw: tuple[int, int] = tuple(preprocess["size"])  # type: ignore[assignment]
        self.image_size: int = self.image_hw[0]
        self.resize_mode: str = preprocess["resize_mode"]
        self.interpolation = "bilinear" if preprocess["interpolation"] == "bilinear" else "bicubic"
        mean, std = _three(preprocess["mean"]), _three(preprocess["std"])
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> ImageEncoder:
        """Stays in eval mode (dropout, batch-norm statistics): it is a fixed measuring instrument."""
        return super().train(False)

    def _resize(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(x.shape[-2:]) == size:
            return x
        x = F.interpolate(x, size=size, mode=self.interpolation, align_corners=False, antialias=True)
        return x.clamp(0, 1)  # PIL's resize clips bicubic overshoot to the 8-bit range; so do we

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images of any size -> the tower's normalised input, as open_clip's eval transform."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must be (N, 3 or 1, H, W), got {tuple(images.shape)}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        x = (images.to(self.mean.device, torch.float32) + 1) / 2
        (h, w), (th, tw) = x.shape[-2:], self.image_hw
        if self.resize_mode == "squash":
            x = self._resize(x, (th, tw))
        elif self.resize_mode == "longest":  # fit inside, pad the rest with black
            scale = min(th / h, tw / w)
            x = self._resize(x, (max(1, round(h * scale)), max(1, round(w * scale))))
            dh, dw = th - x.shape[-2], tw - x.shape[-1]
            x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        else:  # "shortest": torchvision Resize(size) then CenterCrop(size)
            if th == tw:
                short, long = min(h, w), max(h, w)
                new_long = int(th * long / short)
                size = (th, new_long) if h <= w else (new_long, th)
            else:
                scale = max(th / h, tw / w)
                size = (max(th, round(h * scale)), max(tw, round(w * scale)))
            x = self._resize(x, size)
            top, left = int(round((x.shape[-2] - th) / 2.0)), int(round((x.shape[-1] - tw) / 2.0))
            x = x[..., top : top + th, left : left + tw]
        return (x - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.visual(self.preprocess(images))
        return out[0] if isinstance(out, tuple) else out  # CoCa's tower also returns its tokens


def _three(values: Any) -> tuple[float, float, float]:
    if isinstance(values, (int, float)):
        return (float(values),) * 3
    return tuple(float(v) for v in values)  # type: ignore[return-value]


def _build_visual(plan: Plan) -> nn.Module:
    from open_clip.model import _build_vision_tower

    try:
        with _seeded(_tower_seed(plan.spec.seed, "visual")):
            return _build_vision_tower(plan.config["embed_dim"], plan.vision_cfg(), plan.quick_gelu)
    except ImportError as exc:
        raise ClipError(f"cannot build the image tower of CLIP model {plan.spec.model}: {first_line(exc)}") from None


def load_image_encoder(spec: ClipSpec, device: torch.device) -> ImageEncoder:
    """The frozen image tower `spec` names; no text tower is built or kept."""
    plan = make_plan(spec)
    state = weights_for(plan)
    visual = _build_visual(plan)
    if state is not None:
        weights, source = state
        part = visual_part(weights)
        if not part:
            raise ClipError(f"{source}: no image tower in it (no visual.* weights): CLIP score needs full CLIP weights")
        load_strict(visual, part, source, f"{spec.model} image tower", ClipError)
    size = visual.image_size if hasattr(visual, "image_size") else plan.config["vision_cfg"].get("image_size", 224)
    size = tuple(size) if isinstance(size, (tuple, list)) else (int(size), int(size))
    return ImageEncoder(spec, visual, plan.config["embed_dim"], _preprocess_cfg(plan, size)).to(device)


# --- random full-CLIP weights for tests and offline demos ---------------------------------------------------


def random_clip_state(model: str = TINY, seed: int = 0) -> dict[str, torch.Tensor]:
    """A full CLIP state dict in open_clip's layout with the random init of `ClipSpec(model, seed=seed)`:
    loading it as weights gives the same encoders (and sha256) as that random init."""
    plan = make_plan(ClipSpec(model=model, seed=seed))
    text_prefix = "text." if plan.custom_text else ""
    state = {f"{text_prefix}{k}": v for k, v in _build_text(plan).state_dict().items()}
    state.update({f"visual.{k}": v for k, v in _build_visual(plan).state_dict().items()})
    shape = [1] if plan.config.get("nonscalar_logit_scale") else []
    scale = plan.config.get("init_logit_scale", 2.659260036932778)  # log(1 / 0.07), open_clip's default
    state["logit_scale"] = torch.full(shape, float(scale))
    if plan.config.get("init_logit_bias") is not None:
        state["logit_bias"] = torch.full(shape, float(plan.config["init_logit_bias"]))
    return {k: v.detach().contiguous() for k, v in state.items()}


def main(argv: Sequence[str] | None = None) -> int:
    from cgan_cli import console

    parser = argparse.ArgumentParser(
        prog="python -m cgan_cli.text.clip",
        description="Write a full CLIP state dict (text and image towers) with random weights, as safetensors.",
    )
    parser.add_argument("--model", default=TINY, help=f"open_clip model name or {TINY} (default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="FILE.safetensors")
    args = parser.parse_args(argv)
    try:
        out = Path(args.out)
        if out.suffix.lower() != ".safetensors":
            raise UsageError(f"{out}: --out must end in .safetensors")
        from safetensors.torch import save_file

        from cgan_cli.data.atomic import atomic_path

        state = random_clip_state(args.model, args.seed)
        with atomic_path(out) as tmp:
            save_file(state, str(tmp), metadata={"model": args.model, "seed": str(args.seed)})
    except CganError as exc:
        console.error(str(exc))
        return int(exc.exit_code)
    console.out(str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
