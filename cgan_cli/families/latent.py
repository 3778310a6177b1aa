"""The shared trainer of the latent-to-image families (dcgan, cgan, acgan): z (and a class) → image on the
DCGAN backbone, with the optional stabilisers of `LatentConfig` (cgan_cli/config/latent.py), sampling
from a checkpoint, and the export graphs of `cgan sample`. Each family subclasses `LatentGAN` and
overrides a hook (its network config, its data, ACGAN's class loss)."""


from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.choices import parse_policy
from cgan_cli.config.inference import ExportOptions, SampleOptions
from cgan_cli.config.latent import LatentConfig
from cgan_cli.data.classes import LabelledDataset, LabelledImages, detect_channels, find_images
from cgan_cli.data.grid import grid
from cgan_cli.device import Runtime
from cgan_cli.errors import DataError
from cgan_cli.families.base import Family, Sampler, load_net
from cgan_cli.families.graph import BATCH, ExportGraph, GraphInput, latent_inputs
from cgan_cli.nn.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANNetConfig
from cgan_cli.nn.diffaug import diff_augment
from cgan_cli.nn.ema import EMA, warmed_up
from cgan_cli.nn.losses import GANLoss, gradient_penalty, r1_penalty

GRID_COLUMNS = 8






class LatentGAN(Family):
    """z (and a class) → image. One step = one D update; G is updated on every `n_critic`-th step."""

    config: LatentConfig
    conditional: ClassVar[bool] = False

    def __init__(self, config: LatentConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        self._data: LabelledImages | None = None
        if config.channels == 0 or (self.conditional and not config.class_names):
            data = self.data()
            channels = config.channels or detect_channels([p for p, _ in data.items])
            self.config = config = dataclasses.replace(config, channels=channels, class_names=data.names)
        net = self.net_config(config)
        self.G = self.add_net("G", DCGANGenerator(net))
        self.D = self.add_net("D", DCGANDiscriminator(net))
        self.ema = EMA(self.G) if config.ema > 0 else None
        if self.ema is not None:
            self.nets["G_ema"] = self.ema.model
        self.opt_G = self.adam("G", self.G.parameters(), config.lr)
        self.opt_D = self.adam("D", self.D.parameters(), config.lr)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")
        self.gan_loss = GANLoss(config.loss, config.label_smoothing)
        self.policy = parse_policy(config.diffaug)

    @classmethod
    def net_config(cls, config: LatentConfig) -> DCGANNetConfig:
        """The DCGAN backbone the options describe; conditional families add their class conditioning."""
        return DCGANNetConfig(
            image_size=config.image_size,
            channels=config.channels,
            z_dim=config.z_dim,
            ngf=config.ngf,
            ndf=config.ndf,
            d_norm=config.resolved_d_norm(),
            spectral_norm=config.spectral_norm,
        )

    # --- data -------------------------------------------------------------------------------
    def find_data(self, root: Path) -> LabelledImages:
        return find_images(root)

    def data(self) -> LabelledImages:
        if self._data is None:
            self._data = self.find_data(self.config.data_root())
            saved = self.config.class_names
            if saved and self._data.names != saved:
                raise DataError(
                    f"{self.config.data_root()}: classes {', '.join(self._data.names)} differ from this run's "
                    f"{', '.join(saved)}"
                )
        return self._data

    def dataset(self) -> LabelledDataset:
        cfg = self.config
        return LabelledDataset(self.data(), cfg.image_size, cfg.channels, flip=cfg.flip)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        """Fixed latents (from --seed): one row per class (up to 10), or 8×8 when unconditional."""
        classes = len(self.config.class_names)
        rows = min(classes, 10) if self.conditional else GRID_COLUMNS
        g = torch.Generator().manual_seed(self.config.seed)
        z = torch.randn(rows * GRID_COLUMNS, self.config.z_dim, generator=g)
        labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS) if self.conditional else torch.zeros(len(z))
        return {"z": z, "label": labels.long()}

    # --- training ---------------------------------------------------------------------------
    def discriminate(
        self, images: torch.Tensor, labels: torch.Tensor, eager: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(real/fake logits, class logits or None) of D on DiffAugmented images (`eager`: never the
        compiled D, for R1's double backward)."""
        D = self.D if eager else self.run_D
        out = D(diff_augment(images, self.policy) if self.policy else images, labels)
        return out if isinstance(out, tuple) else (out, None)

    def class_loss(self, class_logits: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor | None:
        """ACGAN's auxiliary cross-entropy; None for families without a classifier head."""
        return None

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        real, labels = batch["image"], batch["label"]
        g_step = self.step % cfg.n_critic == 0
        z = torch.randn(real.shape[0], cfg.z_dim, device=self.device)
        with torch.set_grad_enabled(g_step), self.runtime.autocast():
            fake = self.run_G(z, self.G.class_vector(labels))  # (N, C, H, W); fakes share the real labels

        # D: real → real, fake → fake (+ class CE, GP, R1)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        if cfg.r1:
            real = real.detach().requires_grad_(True)
        with self.runtime.autocast():
            # R1 differentiates D twice: the whole D step runs eager then (a compiled D's batch-norm update
            # would also bump the running statistics the eager graph saved)
            real_logits, real_cls = self.discriminate(real, labels, eager=bool(cfg.r1))
            fake_logits, fake_cls = self.discriminate(fake.detach(), labels, eager=bool(cfg.r1))
            loss_d_real = self.gan_loss(real_logits, real=True)
            loss_d_fake = self.gan_loss(fake_logits, real=False)
        loss_d = loss_d_real + loss_d_fake
        losses = {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach()}
        cls_real, cls_fake = self.class_loss(real_cls, labels), self.class_loss(fake_cls, labels)
        if cls_real is not None and cls_fake is not None:
            loss_d = loss_d + cls_real + cls_fake
            losses["D_cls"] = (cls_real + cls_fake).detach()
        if self.gan_loss.uses_gradient_penalty:
            with self.runtime.autocast():
                gp = gradient_penalty(lambda x: _adversarial(self.D(x, labels)), real, fake, cfg.lambda_gp)
            loss_d = loss_d + gp
            losses["D_gp"] = gp.detach()
        if cfg.r1:
            r1 = r1_penalty(real_logits, real, cfg.r1)
            loss_d = loss_d + r1
            losses["D_r1"] = r1.detach()
        loss_d.backward()
        self.opt_D.step()
        if not g_step:
            return losses

        # G: make D call the fakes real (and of the right class)
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            logits, cls = self.discriminate(fake, labels)
            loss_g = self.gan_loss(logits, real=True, generator=True)
        losses["G"] = loss_g.detach()
        cls_g = self.class_loss(cls, labels)
        if cls_g is not None:
            loss_g = loss_g + cls_g
            losses["G_cls"] = cls_g.detach()
        loss_g.backward()
        self.opt_G.step()
        if self.ema is not None:
            self.ema.update(self.G, warmed_up(cfg.ema, self.step))
        return losses

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        G = self.ema.model if self.ema is not None else self.G
        was_training = G.training
        G.eval()
        try:
            images = G(batch["z"], G.class_vector(batch["label"])).float()
        finally:
            G.train(was_training)
        return grid([list(images[i : i + GRID_COLUMNS]) for i in range(0, len(images), GRID_COLUMNS)])

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        return ("net/G", "net/G_ema")

    @classmethod
    def sampler(cls, ckpt: Checkpoint, device: torch.device, options: SampleOptions) -> Sampler:
        cfg = cls.config_from(ckpt)
        net = DCGANGenerator(cls.net_config(cfg))
        use_ema = options.ema and any(k.startswith("net/G_ema/") for k in ckpt.tensors)
        load_net(net, ckpt, "G_ema" if use_ema else "G")
        net.eval().requires_grad_(False).to(device)
        names = cfg.class_names if cls.conditional else ()
        return Sampler(net, cfg.z_dim, names, net.class_vector, cfg.channels, cfg.image_size, use_ema)

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        sampler = cls.sampler(ckpt, torch.device("cpu"), SampleOptions(ema=options.ema))
        z, psi = latent_inputs(sampler.z_dim, "ψ in [0, 1]: z is scaled by it (1: off)")
        names = sampler.class_names
        size = sampler.image_size
        output = f"(N, {sampler.channels}, {size}, {size}) in [-1, 1]"
        weights = "G_ema" if sampler.ema else "G"
        if not names:
            return ExportGraph(LatentGraph(sampler.net), (z, psi), output, weights)
        label = GraphInput("label", (BATCH,), "index", f"class index: {', '.join(names)}", high=len(names))
        return ExportGraph(ClassGraph(sampler.net), (z, label, psi), output, weights, {"classes": list(names)})


class LatentGraph(nn.Module):
    """G(ψ·z): `cgan sample` as one graph."""

    def __init__(self, G: DCGANGenerator) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        return self.G(z * truncation)


class ClassGraph(LatentGraph):
    """G(ψ·z, class vector of the label): `cgan sample --class` as one graph."""

    def forward(self, z: torch.Tensor, label: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.G(z * truncation, self.G.class_vector(label))


def _adversarial(out: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The real/fake logits of D's output (ACGAN's D also returns class logits)."""
    return out[0] if isinstance(out, tuple) else out
