"""Which CLIP encoder a spec names, and its weights: checking the spec against open_clip's configs and tags,
reading weight files, downloading a tag, and fitting open_clip's layouts onto a tower (the towers are clip.py's).

Weights are read only as tensors: safetensors, or `torch.load(weights_only=True)` (cgan_cli/weights.py's reader);
never a pickle that runs code, and a TorchScript archive (OpenAI's original .pt files) is refused unread. Files in
open_clip's layouts load: a plain CLIP, CustomTextCLIP's "text." names, a training checkpoint's {"state_dict": ...}
and DDP's "module." prefix. Every misfit is a one-line ClipError naming the file.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cgan_cli.errors import CganError, UsageError
from cgan_cli.weights import WeightsError, first_line, is_torchscript, read_torch_file

TINY = "cgan-tiny"

# Small enough to build in milliseconds, yet every part of a real ViT CLIP (and its real tokenizer).
_TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "head_width": 16, "layers": 2},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}

# top-level names of a plain CLIP's text tower (CustomTextCLIP puts the same names under "text.")
_TEXT_ROOTS = frozenset(
    {"token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection", "cls_emb"}
)
# OpenAI's state dicts carry these as entries; they are config, not weights
_NOT_WEIGHTS = ("input_resolution", "context_length", "vocab_size")


class ClipError(CganError):
    """A CLIP encoder that cannot be built: unreadable or unfitting weights, a failed download."""


@dataclass(frozen=True)
class ClipSpec:
    """Which CLIP encoder: an architecture plus one source of weights (a tag, a file, or a seed)."""

    model: str = "ViT-B-32"
    pretrained: str = ""
    weights: str = ""
    seed: int = 0

    @property
    def tag(self) -> str:
        """The pretrained tag, or "" for none ("none" is how a user says so on the command line)."""
        tag = self.pretrained.strip()
        return "" if tag.lower() in ("", "none") else tag

    def describe(self) -> str:
        if self.weights:
            return f"{self.model} ({os.path.abspath(self.weights)})"
        if self.tag:
            return f"{self.model} ({self.tag})"
        return f"{self.model} (random init, seed {self.seed})"


@lru_cache(maxsize=1)
def model_names() -> list[str]:
    """open_clip's model names and ours, listed once: importing open_clip costs seconds."""
    import open_clip

    return [*open_clip.list_models(), TINY]


def model_config(name: str) -> dict[str, Any]:
    """The open_clip model config (embed_dim, vision_cfg, text_cfg, ...) for a name in MODEL_NAMES."""
    if name == TINY:
        return copy.deepcopy(_TINY_CONFIG)
    names = model_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UsageError(
            f"unknown CLIP model {name!r}: {hint}use an open_clip model name (open_clip.list_models(), "
            f"e.g. ViT-B-32) or {TINY}"
        )
    import open_clip

    return open_clip.get_model_config(name)


@dataclass(frozen=True)
class Plan:
    """A validated spec: the model config and, for a pretrained tag, open_clip's entry for it."""

    spec: ClipSpec
    config: dict[str, Any]
    tag_cfg: dict[str, Any]

    @property
    def quick_gelu(self) -> bool:
        # weights trained with QuickGELU need it (open_clip only warns), even where no -quickgelu config exists
        return bool(self.config.get("quick_gelu", False) or self.tag_cfg.get("quick_gelu", False))

    @property
    def custom_text(self) -> bool:
        return bool(self.config.get("custom_text", False) or "multimodal_cfg" in self.config)

    def text_cfg(self) -> dict[str, Any]:
        cfg = copy.deepcopy(self.config["text_cfg"])
        cfg["output_tokens"] = True  # TextTransformer then returns per-token features beside the pooled one
        return cfg

    def vision_cfg(self) -> dict[str, Any]:
        cfg = copy.deepcopy(self.config["vision_cfg"])
        if cfg.get("timm_model_name"):
            cfg["timm_model_pretrained"] = False  # weights come from the CLIP file, never a second download
        return cfg


def make_plan(spec: ClipSpec) -> Plan:
    """`spec` checked against open_clip's configs and tags (UsageError otherwise), as it will load."""
    config = model_config(spec.model)
    if spec.tag and spec.weights:
        raise UsageError(
            f"CLIP weights from both a pretrained tag ({spec.tag}) and a file ({spec.weights}): pass one of them"
        )
    if config["text_cfg"].get("hf_model_name"):
        raise UsageError(f"CLIP model {spec.model} has a Hugging Face text tower, which cgan does not support")
    tag_cfg: dict[str, Any] = {}
    if spec.tag:
        from open_clip import pretrained

        tag_cfg = dict(pretrained.get_pretrained_cfg(spec.model, spec.tag)) if spec.model != TINY else {}
        if not tag_cfg:
            tags = pretrained.list_pretrained_tags_by_model(spec.model) if spec.model != TINY else []
            known = f"known tags: {', '.join(tags)}" if tags else "it has no pretrained weights"
            raise UsageError(f"unknown pretrained tag {spec.tag!r} for CLIP model {spec.model} ({known})")
        variant = f"{spec.model}-quickgelu"
        if tag_cfg.get("quick_gelu") and not config.get("quick_gelu") and variant in model_names():
            # Weights trained with QuickGELU (OpenAI's, LAION-400M's, ...) under a plain config name, which
            # open_clip would build with GELU. Name the -quickgelu config instead, so that the record a
            # checkpoint keeps rebuilds the same encoder from a local copy of these weights (--clip-weights).
            if pretrained.is_pretrained_cfg(variant, spec.tag):
                return make_plan(replace(spec, model=variant))
    return Plan(spec, config, tag_cfg)


def resolve_spec(spec: ClipSpec) -> ClipSpec:
    """`spec` validated (UsageError otherwise) and as it loads: a tag trained with QuickGELU under a plain
    model name becomes that model's -quickgelu config ("ViT-B-32", "openai" -> "ViT-B-32-quickgelu")."""
    return make_plan(spec).spec


# --- reading weights ------------------------------------------------------------------------------------


def _looks_like_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(10)
    return len(head) == 10 and head[8:10] in (b'{"', b"{}")


def read_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from a .safetensors file or a torch.save file (read with weights_only=True), on CPU.
    Unwraps open_clip training checkpoints ({"state_dict": ...}) and DDP's "module." prefix."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ClipError(f"{p}: no such CLIP weights file")
    if not p.is_file():
        raise ClipError(f"{p}: not a file (pass a .safetensors or .bin/.pt/.pth CLIP weights file)")
    if p.suffix.lower() == ".safetensors" or _looks_like_safetensors(p):
        from safetensors.torch import load_file

        try:
            obj: object = load_file(str(p), device="cpu")
        except Exception as exc:
            raise ClipError(f"{p}: not a readable safetensors file ({first_line(exc)})") from None
    else:
        if is_torchscript(p):
            raise ClipError(
                f"{p}: a TorchScript JIT archive (such as OpenAI's original .pt files), which cgan does not "
                "read as it can run code; convert it to safetensors or pass an open_clip state dict"
            )
        try:
            obj = read_torch_file(p)
        except WeightsError as exc:
            raise ClipError(
                f"{p}: not a readable weights file ({exc.reason}); pass a .safetensors file or a plain "
                "state dict saved with torch.save"
            ) from None
    return _tensors_of(obj, p)


def _tensors_of(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise ClipError(f"{path}: not a weights file (holds a {type(obj).__name__}, not a state dict)")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor) and k not in _NOT_WEIGHTS}
    if not state:
        raise ClipError(f"{path}: not a weights file (no tensors in it)")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def text_part(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The text tower's entries under TextTransformer's own names, from either open_clip layout."""
    if any(k.startswith("text.") for k in state):
        part = {k[len("text.") :]: v for k, v in state.items() if k.startswith("text.")}
    else:
        part = {k: v for k, v in state.items() if k.split(".", 1)[0] in _TEXT_ROOTS}
    part.pop("attn_mask", None)  # a buffer open_clip rebuilds; older exports saved it
    return part


def visual_part(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The image tower's entries under its own names (open_clip keeps them under "visual.")."""
    return {k[len("visual.") :]: v for k, v in state.items() if k.startswith("visual.")}


def _listed(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def load_strict(tower: nn.Module, part: Mapping[str, torch.Tensor], source: str, what: str, error: type) -> None:
    """load_state_dict(strict=True), with every misfit reported on one line naming the source."""
    expected = tower.state_dict()
    missing = sorted(set(expected) - set(part))
    unexpected = sorted(set(part) - set(expected))
    misshapen = [
        f"{k} {tuple(part[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in part and part[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected {_listed(unexpected)}")
    if misshapen:
        problems.append(f"wrong shape (file vs model) {_listed(misshapen)}")
    if problems:
        raise error(f"{source}: does not fit the {what}: {'; '.join(problems)}")
    tower.load_state_dict(dict(part), strict=True)  # copies, casting fp16/bf16 files to the float32 model


def weights_for(plan: Plan) -> tuple[dict[str, torch.Tensor], str] | None:
    """The state dict the spec names (downloading a tag), with a label for errors; None for random init."""
    spec = plan.spec
    if spec.weights:
        return read_weights(spec.weights), str(Path(spec.weights).expanduser())
    if spec.tag:
        path = _download_tag(plan)
        return read_weights(path), path
    return None


def _download_tag(plan: Plan) -> str:
    """open_clip's download of a pretrained tag (into its own cache); ClipError naming --clip-weights if it fails."""
    from open_clip import pretrained

    try:
        path = pretrained.download_pretrained(plan.tag_cfg)
    except Exception as exc:
        path, reason = "", first_line(exc)
    else:
        reason = "no download source"
    if not path:
        raise ClipError(
            f"could not download CLIP weights {plan.spec.model} ({plan.spec.tag}): {reason}: pass --clip-weights FILE"
        )
    return str(path)
