"""SPADE's networks, training step and inference (Park et al., CVPR 2019), following NVlabs/SPADE
`pix2pix_model.py` and `pix2pix_trainer.py`: G makes the photo from the one-hot label map (plus the instance edge
map with --instances, and with --use-vae from z ~ q(z | photo) of the image encoder E); the multi-scale D judges
(label map, image) pairs with the hinge loss; G adds λ_feat·feature matching, λ_vgg·VGG19 perceptual and
λ_kld·KL losses. As the reference, G (with E) steps first, then D against a fresh fake of the updated G.
The options and the paper's defaults are in cgan_cli/config/spade.py; the networks in cgan_cli/nn/spade.py.
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
from cgan_cli.data.classes import resize_and_centre_crop
from cgan_cli.data.grid import grid
from cgan_cli.data.io import read_image, to_tensor
from cgan_cli.data.labels import (
    LabelMapDataset,
    LabelPairs,
    Palette,
    instance_files,
    instance_for,
    label_tensor,
    one_hot,
    open_instance_map,
    open_label_map,
    palette_for,
    palette_from_record,
)
from cgan_cli.data.paired import find_folder_pairs, find_pairs, split_aligned
from cgan_cli.data.transforms import Preprocess
from cgan_cli.device import Runtime
from cgan_cli.errors import CganError, DataError, UsageError
from cgan_cli.families.base import Family, Translator, load_net
from cgan_cli.families.graph import BATCH, LATENT, Axis, ExportGraph, GraphInput
from cgan_cli.nn.losses import GANLoss
from cgan_cli.nn.spade import (
    UPSAMPLINGS,
    VGG19_CONVS,
    ConvEncoder,
    MultiscaleDiscriminator,
    SPADEDiscriminatorConfig,
    SPADEGenerator,
    VGG19Features,
    feature_matching,
    instance_edges,
    kld,
    reparameterize,
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


GRID_SEEDS = (1, 2)  # the random-z columns of a VAE model's sample grid


def semantic_channels(cfg: SPADEConfig) -> int:
    """G's label input: one channel per class, and the instance edge map with --instances."""
    return len(cfg.class_names) + (1 if cfg.instances else 0)


def generator(cfg: SPADEConfig) -> SPADEGenerator:
    z_dim = cfg.z_dim if cfg.use_vae else 0
    return SPADEGenerator(GeneratorConfig(semantic_channels(cfg), 3, cfg.ngf, cfg.spade_hidden, z_dim,
                                          cfg.crop_size // 2**UPSAMPLINGS))  # fmt: skip


def encoder(cfg: SPADEConfig) -> ConvEncoder:
    return ConvEncoder(cfg.ngf, cfg.z_dim)


def latent(seed: int, z_dim: int) -> torch.Tensor:
    """A seed's z as cgan_cli/generation.py `latent` draws it (that module sits a layer above the families)."""
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))


def config_palette(cfg: SPADEConfig) -> Palette:
    return palette_from_record(cfg.class_names, cfg.class_colours, cfg.palette_tolerance, cfg.palette != "auto")


class LabelsToImage(nn.Module):
    """What `cgan translate` feeds: class indices as index/127.5 − 1 (channel 0), with --instances the edge map
    as −1/1 (channel 1) → one-hot (+ edges) → G, with z for a VAE model."""

    def __init__(self, G: SPADEGenerator, classes: int) -> None:
        super().__init__()
        self.G, self.classes = G, classes

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        indices = ((x[:, :1].float() + 1) * 127.5).round().clamp(0, self.classes - 1)
        seg = one_hot(indices, self.classes).to(x.dtype)
        if x.shape[1] > 1:
            seg = torch.cat([seg, (x[:, 1:2] > 0).to(x.dtype)], 1)
        return self.G(seg, z)


class SPADE(Family):
    spec = SPEC
    config: SPADEConfig

    @classmethod
    def evaluation_blocker(cls, config: SPADEConfig) -> str:
        return "cgan eval cannot give a spade checkpoint its instance maps (--instances)" if config.instances else ""

    def __init__(self, config: SPADEConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        self._data: LabelPairs | None = None
        if not config.class_names:
            self.config = config = dataclasses.replace(config, **self.palette().record())
        self.G = self.add_net("G", generator(config))
        d_cfg = SPADEDiscriminatorConfig(semantic_channels(config) + 3, config.ndf, config.n_layers_d, config.num_d)
        self.D = self.add_net("D", MultiscaleDiscriminator(d_cfg))
        self.E = self.add_net("E", encoder(config)) if config.use_vae else None
        lr_g, lr_d = (config.lr / 2, config.lr * 2) if config.ttur else (config.lr, config.lr)
        g_params = list(self.G.parameters()) + (list(self.E.parameters()) if self.E is not None else [])
        self.opt_G = self.adam("G", g_params, lr_g)  # E learns with G, as the reference's optimizer_G
        self.opt_D = self.adam("D", self.D.parameters(), lr_d)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")
        self.run_E = self.runner("E") if self.E is not None else None
        self.gan_loss = GANLoss("hinge")
        self.vgg = load_vgg19(find_vgg19_weights(config.vgg_weights)).to(self.device) if config.vgg else None

    # --- data -------------------------------------------------------------------------------
    def data(self) -> LabelPairs:
        if self._data is None:
            cfg = self.config
            pairs, side = (find_folder_pairs(Path(cfg.labels), "labels", "images"), "A") if cfg.labels else (
                find_pairs(Path(cfg.paired), "train"), cfg.label_side)  # fmt: skip
            instances = instance_files(Path(cfg.instances)) if cfg.instances else None
            self._data = LabelPairs(pairs, side, instances, cfg.instances)
            self._data.check_instances()
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
        keys = ("label", "target", "edges") if "edges" in items[0] else ("label", "target")
        return {k: torch.stack([it[k] for it in items]) for k in keys}

    # --- training ---------------------------------------------------------------------------
    def semantics(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """G's and D's label input: the one-hot map, and the instance edge map after it."""
        seg = one_hot(batch["label"], len(self.config.class_names))
        return torch.cat([seg, batch["edges"].to(seg.dtype)], 1) if "edges" in batch else seg

    def generate(self, seg: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's image and, with the VAE, λ_kld·KL of E's posterior for the real photo (z drawn from it)."""
        if self.run_E is None:
            return self.run_G(seg), None
        mu, logvar = self.run_E(real)
        mu, logvar = mu.float(), logvar.float()
        return self.run_G(seg, reparameterize(mu, logvar)), kld(mu, logvar) * self.config.lambda_kld

    def judge(self, seg: torch.Tensor, fake: torch.Tensor, real: torch.Tensor):
        """D's outputs for (label, fake) and (label, real), from one pass over both as the reference."""
        outs = self.run_D(torch.cat([torch.cat([seg, fake], 1), torch.cat([seg, real], 1)], 0))
        n = seg.shape[0]
        return [[f[:n] for f in o] for o in outs], [[f[n:] for f in o] for o in outs]

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        seg, real = self.semantics(batch), batch["target"]

        # G (and E): fool D, match D's features of real images and the target's VGG19 features, KL to N(0, I)
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            fake, loss_kld = self.generate(seg, real)
            fake_out, real_out = self.judge(seg, fake, real)
            g_gan = sum(self.gan_loss(o[-1], real=True, generator=True) for o in fake_out) / len(fake_out)
            g_feat = feature_matching(fake_out, real_out) * cfg.lambda_feat
            loss = g_gan + g_feat
            losses = {"G_GAN": g_gan.detach(), "G_feat": g_feat.detach()}
            if self.vgg is not None:
                g_vgg = vgg_loss(self.vgg, fake.float(), real.float()) * cfg.lambda_vgg
                loss = loss + g_vgg
                losses["G_VGG"] = g_vgg.detach()
            if loss_kld is not None:
                loss = loss + loss_kld
                losses["KLD"] = loss_kld.detach()
        loss.backward()
        self.opt_G.step()

        # D: hinge on real pairs and on a fresh fake of the updated G (no gradient to G or E)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            with torch.no_grad():
                fake = self.generate(seg, real)[0]
            fake_out, real_out = self.judge(seg, fake, real)
            d_fake = sum(self.gan_loss(o[-1], real=False) for o in fake_out) / len(fake_out)
            d_real = sum(self.gan_loss(o[-1], real=True) for o in real_out) / len(real_out)
        (d_fake + d_real).backward()
        self.opt_D.step()
        return {"D_real": d_real.detach(), "D_fake": d_fake.detach(), **losses}

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """label map | output | target; with the VAE: label | G(E(target)'s mean) | G at two seeds' z | target."""
        palette = config_palette(self.config)
        seg, real = self.semantics(batch), batch["target"]
        nets = [n for n in (self.G, self.E) if n is not None]
        for net in nets:
            net.eval()
        try:
            with self.runtime.autocast():
                if self.E is None:
                    outputs = [self.G(seg)]
                else:
                    z_dim = self.config.z_dim
                    outputs = [self.G(seg, self.E(real)[0])]
                    outputs += [self.G(seg, latent(s, z_dim).to(seg.device).expand(len(seg), -1)) for s in GRID_SEEDS]
        finally:
            for net in nets:
                net.train()
        shown = colourise(batch["label"], palette).to(seg.device)
        columns = [shown, *(o.float() for o in outputs), real]
        return grid([list(row) for row in zip(*columns)])

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        return ("net/G", "net/E")  # E encodes --style photos of a VAE model

    @classmethod
    def takes_latent(cls, ckpt: Checkpoint) -> bool:
        return bool(cls.config_from(ckpt).use_vae)

    @classmethod
    @torch.no_grad()
    def encode_style(cls, ckpt: Checkpoint, device: torch.device, image: Path) -> torch.Tensor:
        """E's posterior mean for a style photo, resized and centre-cropped to the training crop (the reference
        draws z from the posterior; the mean gives one answer per photo)."""
        cfg = cls.config_from(ckpt)
        net = encoder(cfg)
        load_net(net, ckpt, "E")
        x = to_tensor(resize_and_centre_crop(read_image(image, 3), cfg.crop_size))[None].to(device)
        return net.eval().to(device)(x)[0][0].float()

    @classmethod
    def translator(cls, ckpt: Checkpoint, device: torch.device, options: TranslateOptions) -> Translator:
        cfg = cls.config_from(ckpt)
        if options.instances is not None and not cfg.instances:
            raise UsageError(f"--instances: {ckpt.path} was trained without instance maps")
        if cfg.instances and options.instances is None:
            raise UsageError(f"{ckpt.path} was trained with instance maps: give their folder with --instances DIR")
        instances = instance_files(options.instances) if options.instances is not None else None
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
            labels = label_tensor(img, palette, where).to(torch.uint8)
            if instances is None:
                return labels
            instance_path = instance_for(instances, path, str(options.instances))
            ids = open_instance_map(instance_path)
            if (ids.shape[1], ids.shape[0]) != img.size:
                raise DataError(f"size mismatch: {where} is {img.width}×{img.height} but {instance_path} is "
                                f"{ids.shape[1]}×{ids.shape[0]}")  # fmt: skip
            edges = instance_edges(torch.from_numpy(ids))[None].to(torch.uint8) * 255
            return torch.cat([labels, edges], 0)

        multiple = 2**UPSAMPLINGS
        made = Translator(net, 1, 3, multiple, half, min_side=multiple, read_labels=read,
                          z_dim=cfg.z_dim if cfg.use_vae else 0, with_z=net if cfg.use_vae else None)  # fmt: skip
        if not cfg.use_vae:
            return made
        return made.at(latent(0, cfg.z_dim) if options.style is None else cls.encode_style(ckpt, device, options.style))

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        cfg = cls.config_from(ckpt)
        G = generator(cfg)
        load_net(G, ckpt, "G")
        G.eval()
        m, k = 2**UPSAMPLINGS, semantic_channels(cfg)
        steps = max(2, cfg.crop_size // m)
        h, w = (Axis(a, steps * m, m) for a in ("height", "width"))
        edges = "; then the instance edge map (1 where neighbouring instance ids differ)" if cfg.instances else ""
        meaning = (f"one-hot label map, {len(cfg.class_names)} classes ({', '.join(cfg.class_names)}){edges}; "
                   f"H and W multiples of {m}")  # fmt: skip
        inputs = [GraphInput("label_map", (BATCH, k, h, w), "binary", meaning)]
        if cfg.use_vae:
            inputs.append(GraphInput("z", (BATCH, cfg.z_dim), "normal", LATENT + "; or E's mean for a style photo"))
        notes = {"class_names": list(cfg.class_names), "class_colours": list(cfg.class_colours),
                 "instances": bool(cfg.instances), "z_dim": cfg.z_dim if cfg.use_vae else 0}  # fmt: skip
        return ExportGraph(G, tuple(inputs), "(N, 3, H, W) in [-1, 1], the label map's size", "G", notes)


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
