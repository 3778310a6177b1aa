"""What the text-to-image families (gancls, gigagan) share: captioned folders, the frozen open_clip text
encoder, the table of training-caption features (encoded once, cached on disk), fixed sample prompts,
and prompt → image inference for `text2img`, `interp --text` and `eval`.

The checkpoint records the encoder (name, pretrained tag or weights file, and the sha256 of its text
tower) but not its weights, unless `--embed-clip`; inference finds the same encoder again and refuses
another with a clear message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.choices import parse_policy
from cgan_cli.config.inference import ExportOptions, SampleOptions
from cgan_cli.config.text import TextConfig
from cgan_cli.data.captions import CaptionedDataset, CaptionedImages, find_captioned
from cgan_cli.data.grid import grid
from cgan_cli.device import Runtime
from cgan_cli.errors import CganError, DataError, UsageError
from cgan_cli.families.base import Family, TextSampler, load_net
from cgan_cli.families.graph import ExportGraph, GraphInput, latent_inputs
from cgan_cli.nn.diffaug import diff_augment
from cgan_cli.nn.ema import EMA
from cgan_cli.text.clip import (
    ClipError,
    ClipSpec,
    TextEncoder,
    TextFeatures,
    check_same,
    encoder_record,
    load_text_encoder,
    load_text_encoder_from_state,
    spec_from_record,
    text_tower_state,
)
from cgan_cli.text.features import CaptionTable, pad

SAMPLE_PROMPTS = 8  # columns of the training sample grid: fixed prompts
SAMPLE_SEEDS = 4  # rows: fixed latents




class TextGAN(Family):
    """Caption-conditioned generation. Subclasses build G and D, write `train_step`, and name their
    generator class (`Generator`) and how it is run (`run_generator`)."""

    config: TextConfig
    reads_tokens: ClassVar[bool] = True  # per-token features (cross-attention), not only the pooled embedding

    def __init__(self, config: TextConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        spec = clip_spec(config)  # a bad --clip-model is a usage error before any data is read
        self.data: CaptionedImages = find_captioned(Path(config.captions))
        encoder = load_text_encoder(spec, self.device)
        digest = hashlib.sha256(json.dumps(self.data.captions()).encode()).hexdigest()
        if config.text_encoder:  # a resumed run: the same encoder and captions, or caption indices would lie
            check_same(config.text_encoder, encoder, f"{config.captions}: this run")
            if config.captions_sha256 and config.captions_sha256 != digest:
                raise DataError(
                    f"{config.captions}: the captions changed since this run started; train a new run on them"
                )
        else:
            self.config = config = dataclasses.replace(
                config, text_encoder=encoder_record(encoder), sample_prompts=self._pick_prompts(),
                captions_sha256=digest,
            )  # fmt: skip
        self.clip_state = text_tower_state(encoder) if config.embed_clip else None
        self.table = CaptionTable.build(encoder, self.data, self.device, tokens=self.reads_tokens)
        self.policy = parse_policy(config.diffaug)

    def with_ema(self, G: nn.Module) -> EMA | None:
        ema = EMA(G) if self.config.ema > 0 else None
        if ema is not None:
            self.nets["G_ema"] = ema.model
        return ema

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images, self.policy) if self.policy else images

    # --- data ---------------------------------------------------------------------------------
    def _pick_prompts(self) -> tuple[str, ...]:
        """Up to 8 different captions, from images spread evenly over the set."""
        items = self.data.items
        order = sorted(range(len(items)), key=lambda i: (i * SAMPLE_PROMPTS) % len(items))  # spread, then fill
        picked: dict[str, None] = {}
        for i in order:
            for caption in items[i][1]:
                if caption not in picked:
                    picked[caption] = None
                    break
            if len(picked) == SAMPLE_PROMPTS:
                break
        return tuple(picked)

    def dataset(self) -> CaptionedDataset:
        return CaptionedDataset(self.data, self.config.image_size, 3, flip=self.config.flip)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        """Fixed latents (from --seed) in rows, fixed prompts in columns."""
        lookup = {caption: i for i, caption in enumerate(self.data.captions())}
        prompts = torch.tensor([lookup[p] for p in self.config.sample_prompts])
        g = torch.Generator().manual_seed(self.config.seed)
        z = torch.randn(SAMPLE_SEEDS, self.config.z_dim, generator=g).repeat_interleave(len(prompts), 0)
        return {"z": z, "caption": prompts.repeat(SAMPLE_SEEDS)}

    def text_of(self, captions: torch.Tensor) -> TextFeatures:
        return self.table.gather(captions)

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        G = self.nets.get("G_ema", self.nets["G"])
        was_training = G.training
        G.eval()
        try:
            images = self.run_generator(G, batch["z"], self.text_of(batch["caption"]), 1.0).float()
        finally:
            G.train(was_training)
        cols = len(self.config.sample_prompts)
        return grid([list(images[i : i + cols]) for i in range(0, len(images), cols)])

    def state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = super().state_tensors()
        if self.clip_state is not None:
            tensors.update({f"clip/text/{k}": v for k, v in self.clip_state.items()})
        return tensors

    # --- the generator, as inference runs it ---------------------------------------------------
    Generator: ClassVar[type[nn.Module]]  # built from `net_config(config)`

    @classmethod
    def net_config(cls, config: Any) -> Any:
        """The networks' config: the options plus the width of the text encoder the run recorded."""
        raise NotImplementedError

    @classmethod
    def build_generator(cls, config: Any) -> nn.Module:
        return cls.Generator(cls.net_config(config))

    @staticmethod
    def run_generator(G: nn.Module, z: torch.Tensor, text: TextFeatures, psi: float) -> torch.Tensor:
        """(N, z_dim), text features of N prompts, truncation ψ → (N, C, S, S) images in [-1, 1]."""
        raise NotImplementedError

    # the generator as `cgan export` writes it: (z, text inputs…, ψ) → (N, 3, S, S) in [-1, 1]
    Graph: ClassVar[type[nn.Module]]
    TRUNCATION: ClassVar[str]  # what ψ does, for the exported file's metadata

    @classmethod
    def text_inputs(cls, cfg: Any) -> tuple[GraphInput, ...]:
        """The graph inputs that carry the prompt's CLIP features."""
        raise NotImplementedError

    @classmethod
    def trained_generator(cls, ckpt: Checkpoint, ema: bool) -> tuple[nn.Module, bool]:
        """The generator in eval mode on the CPU, with the EMA weights when asked and present."""
        net = cls.build_generator(cls.config_from(ckpt))
        use_ema = ema and any(k.startswith("net/G_ema/") for k in ckpt.tensors)
        load_net(net, ckpt, "G_ema" if use_ema else "G")
        return net.eval().requires_grad_(False), use_ema

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        """The prompt enters as CLIP features: run the encoder named in the metadata, then this graph."""
        cfg = cls.config_from(ckpt)
        net, use_ema = cls.trained_generator(ckpt, options.ema)
        z, psi = latent_inputs(cfg.z_dim, cls.TRUNCATION)
        output = f"(N, 3, {cfg.image_size}, {cfg.image_size}) in [-1, 1]"
        notes = {"text_encoder": cfg.text_encoder}
        return ExportGraph(cls.Graph(net), (z, *cls.text_inputs(cfg), psi), output, "G_ema" if use_ema else "G", notes)

    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        return ("net/G", "net/G_ema", "clip/text")

    @classmethod
    def text_sampler(cls, ckpt: Checkpoint, device: torch.device, options: SampleOptions) -> TextSampler:
        cfg = cls.config_from(ckpt)
        record = cfg.text_encoder or {}
        encoder = open_encoder(ckpt, record, options.clip_weights, device)
        net, use_ema = cls.trained_generator(ckpt, options.ema)
        net.to(device)

        def run(z: torch.Tensor, text: TextFeatures, psi: float) -> torch.Tensor:
            return cls.run_generator(net, z, text, psi)

        def encode(prompts: list[str]) -> TextFeatures:
            """Padded to the full context, so a prompt's features have one shape whatever it is encoded with."""
            return pad(encoder.encode(prompts), encoder.context_length)

        return TextSampler(
            net=run,
            encode=encode,
            z_dim=cfg.z_dim,
            channels=3,
            image_size=cfg.image_size,
            ema=use_ema,
            encoder=encoder.spec.describe(),
        )


def clip_spec(cfg: TextConfig) -> ClipSpec:
    """The CLIP encoder the options name: a local weights file, or an open_clip model and pretrained tag."""
    from cgan_cli.text import clip  # its model list imports open_clip (seconds): only when a family is built

    if cfg.clip_model not in clip.MODEL_NAMES:
        raise UsageError(f"--clip-model {cfg.clip_model!r} is not an open_clip model (open_clip.list_models())")
    if cfg.clip_weights:
        return ClipSpec(model=cfg.clip_model, weights=cfg.clip_weights)
    tag = "" if cfg.clip_pretrained.lower() in ("", "none") else cfg.clip_pretrained
    return ClipSpec(model=cfg.clip_model, pretrained=tag)


def open_encoder(ckpt: Checkpoint, record: dict, weights: str, device: torch.device) -> TextEncoder:
    """The text encoder a checkpoint was trained with: embedded in it, at `weights`, or where the record
    says; any other encoder is refused."""
    if not record:
        raise CganError(f"{ckpt.path}: the checkpoint does not record its text encoder")
    spec = spec_from_record(record)
    embedded = ckpt.sub("clip/text")
    try:
        if weights:
            encoder = load_text_encoder(ClipSpec(model=spec.model, weights=str(Path(weights).resolve())), device)
        elif embedded:
            encoder = load_text_encoder_from_state(spec, embedded, device)
        else:
            encoder = load_text_encoder(spec, device)
    except ClipError as exc:
        raise ClipError(
            f"{exc} (the text encoder of {ckpt.path}: give its weights file with --clip-weights, or with "
            "--text-encoder-weights to eval)"
        ) from None
    check_same(record, encoder, str(ckpt.path))
    return encoder
