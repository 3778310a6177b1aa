"""The ProGAN family (Karras et al., ICLR 2018): progressive growing from 4×4, WGAN-GP with the drift term, an
optional auxiliary-classifier head with --classes, the EMA generator for inference. The options, the paper's
defaults and what a step means are in cgan_cli/config/progan.py; the networks in cgan_cli/nn/progan.py.

The resolution and α of every step follow from the step and the config (`ProGANConfig.stage`), so a resumed run,
`cgan sample` and `cgan export` all recompute them; checkpoints also record them in their `state` JSON.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.inference import ExportOptions, SampleOptions
from cgan_cli.config.progan import SPEC, ProGANConfig
from cgan_cli.device import Runtime
from cgan_cli.families.base import Sampler
from cgan_cli.families.graph import BATCH, ExportGraph, GraphInput, latent_inputs
from cgan_cli.families.latent import ClassGraph, LatentGraph
from cgan_cli.families.latent_data import LatentData
from cgan_cli.nn.losses import gradient_penalty
from cgan_cli.nn.progan import ProGANDiscriminator, ProGANGenerator, ProGANNetConfig, fade_reals, upsample


def _phase(stage: tuple[int, float]) -> tuple[int, bool]:
    """What the official reset_opt_for_new_lod watches: the resolution and whether a fade is on."""
    return stage[0], stage[1] < 1.0


class ProGAN(LatentData):
    """z (and a class) → image, grown progressively. One step = one batch of --batch-size real images, split
    into chunks of the resolution's scheduled batch, each chunk one D update then one G update."""

    spec = SPEC
    config: ProGANConfig

    def __init__(self, config: ProGANConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        config = self.config  # with the channels and classes found in the data
        net = self.net_config(config)
        self.add_pair(ProGANGenerator(net), ProGANDiscriminator(net))
        self.opt_G = self.adam("G", self.G.parameters(), config.lr)
        self.opt_D = self.adam("D", self.D.parameters(), config.lr)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")
        self.batches = config.batches()

    @classmethod
    def net_config(cls, config: ProGANConfig) -> ProGANNetConfig:
        return ProGANNetConfig(
            image_size=config.image_size,
            channels=config.channels,
            z_dim=config.z_dim,
            fmap_base=config.fmap_base,
            fmap_max=config.fmap_max,
            num_classes=len(config.class_names) if config.conditional else 0,
            mbstd_group=config.mbstd_group,
        )

    def uses_classes(self) -> bool:
        return self.config.conditional

    # --- training ---------------------------------------------------------------------------
    def set_stage(self, resolution: int, alpha: float) -> None:
        for net in self.nets.values():
            net.set_stage(resolution, alpha)

    def progress(self, step: int) -> dict[str, Any]:
        resolution, alpha = self.config.stage(step)
        return {"resolution": resolution, "alpha": alpha}

    def discriminate(self, images: torch.Tensor, eager: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(scores, class logits or None); `eager`: never the compiled D (the gradient penalty's double backward)."""
        out = (self.D if eager else self.run_D)(images)
        return out if isinstance(out, tuple) else (out, None)

    def d_losses(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """D_wgangp_acgan's terms: E[D(fake)] − E[D(real)], λ·GP, ε·E[D(real)²], and the class cross-entropies."""
        cfg = self.config
        with self.runtime.autocast():
            real_scores, real_cls = self.discriminate(real)
            fake_scores, fake_cls = self.discriminate(fake)
            gp = gradient_penalty(lambda x: self.discriminate(x, eager=True)[0], real, fake, cfg.lambda_gp)
        real_scores = real_scores.float()
        terms = {
            "D_real": -real_scores.mean(),
            "D_fake": fake_scores.float().mean(),
            "D_gp": gp,
            "D_drift": cfg.drift * real_scores.pow(2).mean(),
        }
        if real_cls is not None and fake_cls is not None:
            ce = F.cross_entropy(real_cls.float(), labels) + F.cross_entropy(fake_cls.float(), labels)
            terms["D_cls"] = cfg.lambda_cls * ce
        return terms

    def update(self, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """One D update, then one G update, on one chunk of real images (already at the current stage)."""
        cfg = self.config
        z = torch.randn(real.shape[0], cfg.z_dim, device=self.device)
        cond = self.G.class_vector(labels) if cfg.conditional else None
        with self.runtime.autocast():
            fake = self.run_G(z, cond)  # fakes share the real labels

        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        terms = self.d_losses(real, fake.detach(), labels)
        sum(terms.values()).backward()
        self.opt_D.step()

        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            scores, cls = self.discriminate(fake)
        loss_g = -scores.float().mean()
        losses = {k: v.detach() for k, v in terms.items()}
        losses["G"] = loss_g.detach()
        if cls is not None:
            cls_g = cfg.lambda_cls * F.cross_entropy(cls.float(), labels)
            loss_g = loss_g + cls_g
            losses["G_cls"] = cls_g.detach()
        loss_g.backward()
        self.opt_G.step()
        if self.ema is not None:
            self.ema.update(self.G, cfg.ema)  # G_smoothing: a plain running average, as the official Gs
        return losses

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        resolution, alpha = cfg.stage(self.step)
        if cfg.reset_optimizer and self.step > 0 and _phase(cfg.stage(self.step - 1)) != (resolution, alpha < 1.0):
            for opt in self.optimizers.values():
                opt.state.clear()  # new layers, or a fade just ended: Adam starts its moments afresh
        self.set_stage(resolution, alpha)
        self.set_base_lr(cfg.learning_rates()[resolution])
        real = fade_reals(batch["image"], cfg.image_size, resolution, alpha)
        labels = batch["label"]
        chunk = self.batches[resolution]
        totals: dict[str, torch.Tensor] = {}
        starts = range(0, real.shape[0], chunk)
        for i in starts:
            for k, v in self.update(real[i : i + chunk], labels[i : i + chunk]).items():
                totals[k] = totals[k] + v if k in totals else v
        return {k: v / len(starts) for k, v in totals.items()}

    def validation_images(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The EMA G's images at the stage a checkpoint written now records (that of the next step, as `sampler`),
        upsampled (nearest, which keeps the diversity figure) to --image-size so grids stay one size."""
        self.set_stage(*self.config.stage(self.step + 1))
        images = super().validation_images(batch)
        return upsample(images, self.config.image_size // images.shape[-1])

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def sampler(cls, ckpt: Checkpoint, device: torch.device, options: SampleOptions) -> Sampler:
        """The generator at the checkpoint's stage: the resolution and α after its steps (the final size once
        training has grown to it)."""
        cfg = cls.config_from(ckpt)
        net = ProGANGenerator(cls.net_config(cfg))
        use_ema = cls.load_generator(net, ckpt, options)
        resolution, alpha = cfg.stage(ckpt.step)
        net.set_stage(resolution, alpha)
        net.eval().requires_grad_(False).to(device)
        names = cfg.class_names if cfg.conditional else ()
        return Sampler(net, cfg.z_dim, names, net.class_vector, cfg.channels, resolution, use_ema)

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        sampler = cls.sampler(ckpt, torch.device("cpu"), SampleOptions(ema=options.ema))
        z, psi = latent_inputs(sampler.z_dim, "ψ in [0, 1]: z is scaled by it (1: off)")
        names, size = sampler.class_names, sampler.image_size
        output = f"(N, {sampler.channels}, {size}, {size}) in [-1, 1] (linear output: clamp it)"
        weights = "G_ema" if sampler.ema else "G"
        stage = {"resolution": size, "alpha": cls.config_from(ckpt).stage(ckpt.step)[1]}
        if not names:
            return ExportGraph(LatentGraph(sampler.net), (z, psi), output, weights, {"stage": stage})
        label = GraphInput("label", (BATCH,), "index", f"class index: {', '.join(names)}", high=len(names))
        notes = {"classes": list(names), "stage": stage}
        return ExportGraph(ClassGraph(sampler.net), (z, label, psi), output, weights, notes)
