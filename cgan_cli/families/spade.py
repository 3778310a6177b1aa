"""SPADE's networks, training step and inference (Park et al., CVPR 2019), following NVlabs/SPADE
`pix2pix_model.py`: G makes the photo from the one-hot label map; the multi-scale D judges (label map, image)
pairs with the hinge loss; G adds λ_feat·feature matching and λ_vgg·VGG19 perceptual losses. The options and
the paper's defaults are in cgan_cli/config/spade.py; the networks in cgan_cli/nn/spade.py.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cgan_cli import weights as weight_files
from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.inference import ExportOptions, TranslateOptions
from cgan_cli.config.spade import SPEC, SPADEConfig
from cgan_cli.data.grid import grid
from cgan_cli.data.labels import (
    LabelMapDataset,
    LabelPairs,
    Palette,
    label_tensor,
    one_hot,
    open_label_map,
    palette_for,
    palette_from_record,
)
from cgan_cli.data.paired import find_folder_pairs, find_pairs, split_aligned
from cgan_cli.data.transforms import Preprocess
from cgan_cli.device import Runtime
from cgan_cli.errors import CganError, DataError
from cgan_cli.families.base import Family, Translator, load_net
from cgan_cli.families.graph import BATCH, Axis, ExportGraph, GraphInput
from cgan_cli.nn.losses import GANLoss
from cgan_cli.nn.spade import (
    UPSAMPLINGS,
    VGG19_CONVS,
    MultiscaleDiscriminator,
    SPADEDiscriminatorConfig,
    SPADEGenerator,
    VGG19Features,
    feature_matching,
    vgg_loss,
)
from cgan_cli.nn.spade import SPADEConfig as GeneratorConfig

VALIDATION_IMAGES = 4
VGG_ENV = "CGAN_VGG19_WEIGHTS"
VGG_FILE = "vgg19-dcbb9e9d.pth"
VGG_URL = "https://download.pytorch.org/models/" + VGG_FILE


def find_vgg19_weights(given: str) -> Path:
    """--vgg-weights FILE, else $CGAN_VGG19_WEIGHTS, else torchvision's file in the torch hub cache, else a
    download there (checked against torchvision's hash prefix)."""
    if given:
        return weight_files.given_file(Path(given), "--vgg-weights")
    if os.environ.get(VGG_ENV):
        return weight_files.given_file(Path(os.environ[VGG_ENV]), f"${VGG_ENV}", "=")
    cached = weight_files.hub_dir() / VGG_FILE
    if cached.is_file():
        return cached
    try:
        return weight_files.download_file(VGG_URL, cached, prefix="dcbb9e9d")
    except weight_files.WeightsError as exc:
        raise CganError(
            f"no VGG19 weights and cannot download them ({exc.reason}); put {VGG_FILE} (from {VGG_URL}) at "
            f"{cached}, give --vgg-weights FILE (or ${VGG_ENV}), or train with --no-vgg"
        ) from None


def load_vgg19(path: Path) -> VGG19Features:
    """VGG19Features with the `features.N.weight/bias` tensors of a torchvision state dict (the classifier is
    ignored); the widths are read from the file."""
    state = weight_files.read_state_dict(path)
    try:
        widths = tuple(int(state[f"features.{i}.weight"].shape[0]) for i in VGG19_CONVS)
        net = VGG19Features(widths)
        net.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")
                             and int(k.split(".")[1]) < len(net.features)})  # fmt: skip
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CganError(f"{path}: not VGG19 weights ({weight_files.first_line(exc)})") from None
    return net


def generator(cfg: SPADEConfig) -> SPADEGenerator:
    return SPADEGenerator(GeneratorConfig(len(cfg.class_names), 3, cfg.ngf, cfg.spade_hidden))


def config_palette(cfg: SPADEConfig) -> Palette:
    return palette_from_record(cfg.class_names, cfg.class_colours, cfg.palette_tolerance, cfg.palette != "auto")


class LabelsToImage(nn.Module):
    """What `cgan translate` feeds: class indices as index/127.5 − 1 (1 channel) → one-hot → G."""

    def __init__(self, G: SPADEGenerator, classes: int) -> None:
        super().__init__()
        self.G, self.classes = G, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        indices = ((x.float() + 1) * 127.5).round().clamp(0, self.classes - 1)
        return self.G(one_hot(indices, self.classes).to(x.dtype))


class SPADE(Family):
    spec = SPEC
    config: SPADEConfig

    def __init__(self, config: SPADEConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        self._data: LabelPairs | None = None
        if not config.class_names:
            self.config = config = dataclasses.replace(config, **self.palette().record())
        self.G = self.add_net("G", generator(config))
        d_cfg = SPADEDiscriminatorConfig(len(config.class_names) + 3, config.ndf, config.n_layers_d, config.num_d)
        self.D = self.add_net("D", MultiscaleDiscriminator(d_cfg))
        lr_g, lr_d = (config.lr / 2, config.lr * 2) if config.ttur else (config.lr, config.lr)
        self.opt_G = self.adam("G", self.G.parameters(), lr_g)
        self.opt_D = self.adam("D", self.D.parameters(), lr_d)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")
        self.gan_loss = GANLoss("hinge")
        self.vgg = load_vgg19(find_vgg19_weights(config.vgg_weights)).to(self.device) if config.vgg else None

    # --- data -------------------------------------------------------------------------------
    def data(self) -> LabelPairs:
        if self._data is None:
            cfg = self.config
            if cfg.labels:
                self._data = LabelPairs(find_folder_pairs(Path(cfg.labels), "labels", "images"), "A")
            else:
                self._data = LabelPairs(find_pairs(Path(cfg.paired), "train"), cfg.label_side)
        return self._data

    def palette(self) -> Palette:
        cfg = self.config
        if cfg.class_names:
            return config_palette(cfg)
        return palette_for(self.data(), cfg.palette, cfg.palette_tolerance, cfg.label_nc)

    def preprocess(self) -> Preprocess:
        cfg = self.config
        return Preprocess(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip, 32)

    def dataset(self) -> LabelMapDataset:
        return LabelMapDataset(self.data(), self.palette(), self.preprocess())

    def validation_batch(self) -> dict[str, torch.Tensor]:
        ds = self.dataset()
        items = [ds.item(i, None) for i in range(min(VALIDATION_IMAGES, len(ds)))]
        items = [it for it in items if it["label"].shape == items[0]["label"].shape]
        return {k: torch.stack([it[k] for it in items]) for k in ("label", "target")}

    # --- training ---------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        seg = one_hot(batch["label"], len(cfg.class_names))
        real = batch["target"]
        with self.runtime.autocast():
            fake = self.run_G(seg)

        # D: hinge on real and generated (label, image) pairs, one pass over both as the reference
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            both = torch.cat([torch.cat([seg, fake.detach()], 1), torch.cat([seg, real], 1)], 0)
            outs = self.run_D(both)
            n = seg.shape[0]
            d_fake = sum(self.gan_loss(o[-1][:n], real=False) for o in outs) / len(outs)
            d_real = sum(self.gan_loss(o[-1][n:], real=True) for o in outs) / len(outs)
        (d_fake + d_real).backward()
        self.opt_D.step()

        # G: fool D, match D's features of real images, and the VGG19 features of the target
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            outs = self.run_D(torch.cat([torch.cat([seg, fake], 1), torch.cat([seg, real], 1)], 0))
            fake_out = [[f[:n] for f in o] for o in outs]
            real_out = [[f[n:] for f in o] for o in outs]
            g_gan = sum(self.gan_loss(o[-1], real=True, generator=True) for o in fake_out) / len(outs)
            g_feat = feature_matching(fake_out, real_out) * cfg.lambda_feat
            loss = g_gan + g_feat
            losses = {"D_real": d_real.detach(), "D_fake": d_fake.detach(), "G_GAN": g_gan.detach(),
                      "G_feat": g_feat.detach()}  # fmt: skip
            if self.vgg is not None:
                g_vgg = vgg_loss(self.vgg, fake.float(), real.float()) * cfg.lambda_vgg
                loss = loss + g_vgg
                losses["G_VGG"] = g_vgg.detach()
        loss.backward()
        self.opt_G.step()
        return losses

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        palette = config_palette(self.config)
        self.G.eval()
        try:
            with self.runtime.autocast():
                fake = self.G(one_hot(batch["label"], len(palette)))
        finally:
            self.G.train()
        shown = colourise(batch["label"], palette).to(fake.device)
        rows = [[x, y, t] for x, y, t in zip(shown, fake.float(), batch["target"])]
        return grid(rows)  # label map | output | target

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def translator(cls, ckpt: Checkpoint, device: torch.device, options: TranslateOptions) -> Translator:
        cfg = cls.config_from(ckpt)
        G = generator(cfg)
        load_net(G, ckpt, "G")
        palette = config_palette(cfg)
        net = LabelsToImage(G, len(palette)).eval().to(device)
        half = "right" if cfg.label_side == "B" else "left"

        def read(path: Path, half: str | None) -> torch.Tensor:
            img, where = open_label_map(path), str(path)
            if half is not None:
                if img.width < 2:
                    raise DataError(f"{path}: {img.width}×{img.height} is too narrow to hold A and B side by side")
                img = split_aligned(img)[0 if half == "left" else 1]
                where = f"{path} ({half} half)"
            return label_tensor(img, palette, where).to(torch.uint8)

        return Translator(net, 1, 3, 2**UPSAMPLINGS, half, min_side=2**UPSAMPLINGS, read_labels=read)

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        cfg = cls.config_from(ckpt)
        G = generator(cfg)
        load_net(G, ckpt, "G")
        G.eval()
        m, k = 2**UPSAMPLINGS, len(cfg.class_names)
        steps = max(2, cfg.crop_size // m)
        h, w = (Axis(a, steps * m, m) for a in ("height", "width"))
        meaning = f"one-hot label map, {k} classes ({', '.join(cfg.class_names)}); H and W multiples of {m}"
        seg = GraphInput("label_map", (BATCH, k, h, w), "binary", meaning)
        notes = {"class_names": list(cfg.class_names), "class_colours": list(cfg.class_colours)}
        return ExportGraph(G, (seg,), "(N, 3, H, W) in [-1, 1], the label map's size", "G", notes)


def colourise(labels: torch.Tensor, palette: Palette) -> torch.Tensor:
    """(N, 1, H, W) class indices → (N, 3, H, W) in [-1, 1]: palette colours, or grey levels for index maps."""
    k = len(palette)
    if palette.coded:
        table = torch.tensor(np.asarray(palette.colours, dtype=np.float32))
    else:
        levels = torch.linspace(0, 255, k) if k > 1 else torch.zeros(1)
        table = levels[:, None].repeat(1, 3)
    idx = labels[:, 0].long().cpu().clamp(0, k - 1)
    if int(labels.max()) >= k:
        raise DataError(f"label value {int(labels.max())} is outside the class list (0-{k - 1})")
    return (table[idx].permute(0, 3, 1, 2) / 127.5 - 1).to(labels.device)
