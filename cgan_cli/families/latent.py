"""The shared trainer of the latent-to-image families (dcgan, cgan, acgan, infogan): z (and a class) → image
on the DCGAN backbone, with the optional stabilisers and training tricks of `LatentConfig`
(cgan_cli/config/latent.py: WGAN's clipping, R3GAN's loss, feature matching, historical averaging, unrolled
look-ahead; the minibatch layers live in the networks), the diversity of the validation samples for the
log, sampling from a checkpoint, and the export graphs of `cgan sample`. Each family subclasses `LatentGAN`
and overrides a hook (its network config, its data, ACGAN's class loss, InfoGAN's codes)."""


from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.choices import parse_policy
from cgan_cli.config.inference import ExportOptions, SampleOptions
from cgan_cli.config.latent import LatentConfig
from cgan_cli.device import Runtime
from cgan_cli.families.base import Sampler
from cgan_cli.families.graph import BATCH, ExportGraph, GraphInput, latent_inputs
from cgan_cli.families.latent_data import LatentData
from cgan_cli.nn.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANNetConfig, DOutput
from cgan_cli.nn.diffaug import diff_augment
from cgan_cli.nn.ema import warmed_up
from cgan_cli.nn.historical import HistoricalAverage
from cgan_cli.nn.losses import GANLoss, gradient_penalty, r1_penalty, relativistic_loss
from cgan_cli.nn.unrolled import look_ahead


class LatentGAN(LatentData):
    """z (and a class) → image. One step = one D update; G is updated on every `n_critic`-th step."""

    config: LatentConfig

    def __init__(self, config: LatentConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        config = self.config  # with the channels and classes found in the data
        self.add_pair(self.build_generator(config), self.build_discriminator(config))
        self.optim = config.optimiser()
        self.opt_G = self.optimizer("G", self.G)
        self.opt_D = self.optimizer("D", self.D)
        self.history: dict[str, HistoricalAverage] = {}
        if config.historical_averaging:  # the running sums are buffers of these nets: in every checkpoint
            self.history = {name: self.add_net(f"{name}_hist", HistoricalAverage(self.nets[name])) for name in "GD"}
        self.run_G, self.run_D = self.runner("G"), self.runner("D")
        self.gan_loss = GANLoss("wgan" if config.loss == "r3gan" else config.loss, config.label_smoothing)
        self.policy = parse_policy(config.diffaug)

    def optimizer(self, name: str, net: nn.Module) -> torch.optim.Optimizer:
        opt = self.optim
        if opt.kind == "rmsprop":
            return self.rmsprop(name, net.parameters(), opt.lr)
        return self.adam(name, net.parameters(), opt.lr, opt.betas)

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
            minibatch_disc=config.minibatch_disc,
            minibatch_stddev=config.minibatch_stddev,
        )

    @classmethod
    def build_generator(cls, config: LatentConfig) -> nn.Module:
        """G as the options describe it (training and inference alike); DCGAN's unless a family has its own."""
        return DCGANGenerator(cls.net_config(config))

    @classmethod
    def build_discriminator(cls, config: LatentConfig) -> nn.Module:
        return DCGANDiscriminator(cls.net_config(config))

    # --- training ---------------------------------------------------------------------------
    def draw(self, labels: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """G's latent input for fakes of `labels`, and the codes `code_loss` checks (None: no codes)."""
        return torch.randn(labels.shape[0], self.config.z_dim, device=self.device), None

    def discriminate(self, D: Callable[..., DOutput], images: torch.Tensor, labels: torch.Tensor) -> DOutput:
        """D's output on DiffAugmented images (the same policy for reals and fakes)."""
        return D(diff_augment(images, self.policy) if self.policy else images, labels)

    def class_loss(self, class_logits: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor | None:
        """ACGAN's auxiliary cross-entropy; None for families without a classifier head."""
        return None

    def code_loss(self, out: DOutput, codes: Any) -> torch.Tensor | None:
        """InfoGAN's mutual-information term on fakes made from `codes`; None for families without codes."""
        return None

    def d_loss(
        self, D: nn.Module, run: Callable[..., DOutput], real: torch.Tensor, fake: torch.Tensor,
        labels: torch.Tensor, codes: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
        """D's objective on one batch and its named terms. `run` is D as the hot loop calls it (compiled with
        --compile), `D` the eager module the gradient penalties differentiate twice; the unrolled GAN's
        look-ahead passes its copy as both."""
        cfg = self.config
        penalised = bool(cfg.r1) or cfg.loss == "r3gan"
        if penalised:
            # R1/R2 differentiate D twice: the whole D step runs eager then (a compiled D's batch-norm update
            # would also bump the running statistics the eager graph saved)
            run = D
            real = real.detach().requires_grad_(True)
            fake = fake.detach().requires_grad_(cfg.loss == "r3gan")
        with self.runtime.autocast():
            real_out = self.discriminate(run, real, labels)
            fake_out = self.discriminate(run, fake, labels)
            if cfg.loss == "r3gan":
                terms = {"D_adv": relativistic_loss(real_out.logits, fake_out.logits)}
            else:
                terms = {"D_real": self.gan_loss(real_out.logits, real=True),
                         "D_fake": self.gan_loss(fake_out.logits, real=False)}  # fmt: skip
        cls_real, cls_fake = self.class_loss(real_out.classes, labels), self.class_loss(fake_out.classes, labels)
        if cls_real is not None and cls_fake is not None:
            terms["D_cls"] = cls_real + cls_fake
        info = self.code_loss(fake_out, codes)
        if info is not None:
            terms["D_info"] = info
        if self.gan_loss.uses_gradient_penalty:
            with self.runtime.autocast():
                terms["D_gp"] = gradient_penalty(lambda x: D(x, labels).logits, real, fake, cfg.lambda_gp)
        if cfg.r1:
            terms["D_r1"] = r1_penalty(real_out.logits, real, cfg.r1)
        if cfg.loss == "r3gan":
            terms["D_r1"] = r1_penalty(real_out.logits, real, cfg.gamma)
            terms["D_r2"] = r1_penalty(fake_out.logits, fake, cfg.gamma)
        return sum(terms.values()), terms

    def g_loss(
        self, run: Callable[..., DOutput], real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, codes: Any
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's objective against D as `run` judges it (the live D, or the unrolled look-ahead copy)."""
        cfg = self.config
        terms: dict[str, torch.Tensor] = {}
        with self.runtime.autocast():
            out = self.discriminate(run, fake, labels)
            paired = cfg.loss == "r3gan" or cfg.feature_matching
            if paired:
                with torch.no_grad():
                    real_out = self.discriminate(run, real, labels)
            if not cfg.feature_matching_only:
                if cfg.loss == "r3gan":
                    terms["G"] = relativistic_loss(out.logits, real_out.logits)
                else:
                    terms["G"] = self.gan_loss(out.logits, real=True, generator=True)
            if cfg.feature_matching:
                terms["G_fm"] = cfg.feature_matching * feature_distance(real_out.features, out.features)
        cls_g = self.class_loss(out.classes, labels)
        if cls_g is not None:
            terms["G_cls"] = cls_g
        info = self.code_loss(out, codes)
        if info is not None:
            terms["G_info"] = info
        return sum(terms.values()), terms

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        real, labels = batch["image"], batch["label"]
        g_step = self.step % self.optim.n_critic == 0
        z, codes = self.draw(labels)
        with torch.set_grad_enabled(g_step), self.runtime.autocast():
            fake = self.run_G(z, self.G.class_vector(labels))  # (N, C, H, W); fakes share the real labels

        # D: real → real, fake → fake (+ class CE, info, GP, R1/R2, history)
        def d_objective(d: nn.Module, run: Callable[..., DOutput], record: bool) -> tuple[torch.Tensor, dict]:
            loss, terms = self.d_loss(d, run, real, fake.detach(), labels, codes)
            if cfg.historical_averaging:  # the look-ahead copies (record=False) leave D's past alone
                history = self.history["D"]
                terms["D_hist"] = (history.penalty if record else history.distance)(d, cfg.historical_averaging)
                loss = loss + terms["D_hist"]
            return loss, terms

        clip = self.clip_weights if cfg.loss == "wgan" else None
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        loss_d, terms = d_objective(self.D, self.run_D, True)
        loss_d.backward()
        self.opt_D.step()
        if clip is not None:
            clip(self.D)
        losses = {k: v.detach() for k, v in terms.items()}
        if not g_step:
            return losses

        # G: make D (or D after K look-ahead steps) call the fakes real, and of the right class and codes
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        judge: Callable[..., DOutput] = self.run_D
        if cfg.unrolled:  # D's own step K times on a copy: its loss, history term and clipping
            judge = look_ahead(self.D, self.opt_D, lambda d: d_objective(d, d, False)[0], cfg.unrolled, clip)
        loss_g, terms = self.g_loss(judge, real, fake, labels, codes)
        if cfg.historical_averaging:
            terms["G_hist"] = self.history["G"].penalty(self.G, cfg.historical_averaging)
            loss_g = loss_g + terms["G_hist"]
        loss_g.backward()
        self.opt_G.step()
        if self.ema is not None:
            self.ema.update(self.G, warmed_up(cfg.ema, self.step))
        losses.update({k: v.detach() for k, v in terms.items()})
        return losses

    def clip_weights(self, d: nn.Module) -> None:
        """The original WGAN's critic constraint: every weight clamped to [-c, c] after each update."""
        with torch.no_grad():
            for p in d.parameters():
                p.clamp_(-self.config.weight_clip, self.config.weight_clip)

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def sampler(cls, ckpt: Checkpoint, device: torch.device, options: SampleOptions) -> Sampler:
        cfg = cls.config_from(ckpt)
        net = cls.build_generator(cfg)
        use_ema = cls.load_generator(net, ckpt, options)
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


def feature_distance(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Feature matching's distance: mean |E real features − E fake features| over the batch (improved-gan's
    `T.mean(abs(m1 - m2))`, with the features of D's layer before its last)."""
    return (real.float().flatten(1).mean(0) - fake.float().flatten(1).mean(0)).abs().mean()
