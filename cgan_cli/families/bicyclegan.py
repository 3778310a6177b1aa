"""BicycleGAN's training step and inference (Zhu et al., NeurIPS 2017), following junyanz/BicycleGAN
`bicycle_gan_model.py`: each batch splits in halves. cVAE-GAN on the first: z ~ q(z | B₁) = N(μ, σ²) from E,
G(A₁, z) ≈ B₁ in L1, KL(q ‖ N(0, I)), D judges G(A₁, z) against B₁. cLR-GAN: G(A₁, z) for z ~ N(0, I), D2
judges it against B₂, and E's mean recovers z in L1 (a gradient to G only). G and E step first, then D and D2.
The options and the paper's defaults are in cgan_cli/config/bicyclegan.py.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.bicyclegan import ENCODERS, SPEC, BicycleGANConfig, d_layers, d_scales
from cgan_cli.config.choices import UNET_SIZES
from cgan_cli.config.inference import ExportOptions, TranslateOptions
from cgan_cli.data.classes import resize_and_centre_crop
from cgan_cli.data.grid import grid
from cgan_cli.data.io import read_image, to_tensor
from cgan_cli.data.paired import PairedDataset, find_pairs, validation_pairs
from cgan_cli.data.transforms import Preprocess
from cgan_cli.device import Runtime
from cgan_cli.errors import UsageError
from cgan_cli.families.base import Family, Translator, load_net
from cgan_cli.families.graph import BATCH, LATENT, ExportGraph, GraphInput, image_input
from cgan_cli.families.image_translation import for_inference
from cgan_cli.nn.bicyclegan import (
    EncoderConfig,
    MultiscaleConfig,
    MultiscalePatchGAN,
    ResNetEncoder,
    ZUNet,
    ZUNetConfig,
)
from cgan_cli.nn.losses import GANLoss

VALIDATION_IMAGES = 4
GRID_SEEDS = (1, 2, 3)  # the random-z columns of the sample grid


def generator_config(cfg: BicycleGANConfig) -> ZUNetConfig:
    return ZUNetConfig(cfg.input_nc, cfg.output_nc, cfg.nz, cfg.ngf, UNET_SIZES[cfg.net_g], cfg.norm, cfg.dropout,
                       cfg.where_add)  # fmt: skip


def encoder_config(cfg: BicycleGANConfig) -> EncoderConfig:
    return EncoderConfig(cfg.output_nc, cfg.nz, cfg.nef, ENCODERS[cfg.net_e], cfg.norm)


def discriminator_config(cfg: BicycleGANConfig, name: str) -> MultiscaleConfig:
    channels = cfg.output_nc + (cfg.input_nc if cfg.conditional_d else 0)
    return MultiscaleConfig(channels, cfg.ndf, d_layers(name), d_scales(name, cfg.num_ds), cfg.norm)


def latent(seed: int, nz: int) -> torch.Tensor:
    """A seed's z as cgan_cli/generation.py `latent` draws it (that module sits a layer above the families)."""
    return torch.randn(nz, generator=torch.Generator().manual_seed(seed))


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) summed over the batch and the dimensions, as the reference sums it."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def sample_posterior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = μ + σ·ε, ε ~ N(0, I): the reparameterisation trick."""
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


class BicycleGAN(Family):
    spec = SPEC
    export_choices = ("image_stats",)
    config: BicycleGANConfig

    def __init__(self, config: BicycleGANConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        self.G = self.add_net("G", ZUNet(generator_config(config)))
        self.E = self.add_net("E", ResNetEncoder(encoder_config(config)))
        self.D = self.add_net("D", MultiscalePatchGAN(discriminator_config(config, config.net_d)))
        self.D2 = self.add_net("D2", MultiscalePatchGAN(discriminator_config(config, config.net_d2)))
        for name in ("G", "E", "D", "D2"):
            self.adam(name, self.nets[name].parameters(), config.lr)
        self.run_G, self.run_E, self.run_D, self.run_D2 = (self.runner(n) for n in ("G", "E", "D", "D2"))
        self.gan_loss = GANLoss("nonsat" if config.loss == "vanilla" else config.loss)
        self._pairs = None

    # --- data -------------------------------------------------------------------------------
    def preprocessing(self) -> Preprocess:
        cfg = self.config
        return Preprocess(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip, cfg.multiple)

    def pairs(self):
        if self._pairs is None:
            self._pairs = find_pairs(Path(self.config.paired), "train")
        return self._pairs

    def dataset(self) -> PairedDataset:
        cfg = self.config
        return PairedDataset(self.pairs(), cfg.direction, self.preprocessing(), cfg.input_nc, cfg.output_nc)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        cfg = self.config
        return validation_pairs(Path(cfg.paired), self.pairs, cfg.direction, self.preprocessing(),
                                cfg.input_nc, cfg.output_nc, VALIDATION_IMAGES)  # fmt: skip

    # --- training ---------------------------------------------------------------------------
    def adversarial(self, outputs: list[torch.Tensor], real: bool, generator: bool = False) -> torch.Tensor:
        """The GAN loss summed over a multiscale discriminator's logit maps (the reference's GANLoss)."""
        return sum((self.gan_loss(o, real, generator) for o in outputs), torch.zeros((), device=self.device))

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        real_a, real_b = batch["input"], batch["target"]
        half = real_a.shape[0] // 2
        if half < 1:
            raise UsageError("BicycleGAN needs batches of at least 2 pairs (one per branch)")
        a_enc, b_enc, a_rand, b_rand = real_a[:half], real_b[:half], real_a[half : 2 * half], real_b[half : 2 * half]
        with self.runtime.autocast():
            mu, logvar = (t.float() for t in self.run_E(b_enc))
            z_encoded = sample_posterior(mu, logvar)
            z_random = torch.randn(half, cfg.nz, device=self.device)
            fake_encoded = self.run_G(a_enc, z_encoded)
            fake_random = self.run_G(a_enc, z_random)  # the reference feeds A₁ to both branches

        def seen(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # what a discriminator judges
            return torch.cat([a, b], 1) if cfg.conditional_d else b

        # G and E: fool D and D2, reconstruct B₁, keep q(z|B) near the prior; G alone: E must recover z
        self.D.requires_grad_(False)
        self.D2.requires_grad_(False)
        for name in ("G", "E"):
            self.optimizers[name].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            loss_gan = cfg.lambda_gan * self.adversarial(self.run_D(seen(a_enc, fake_encoded)), True, True)
            loss_gan2 = cfg.lambda_gan2 * self.adversarial(self.run_D2(seen(a_enc, fake_random)), True, True)
            self.E.requires_grad_(False)  # the z loss trains G only (the reference's backward_G_alone)
            mu2 = self.run_E(fake_random)[0].float()
            self.E.requires_grad_(True)
        loss_kl = cfg.lambda_kl * kl_divergence(mu, logvar)
        loss_l1 = cfg.lambda_l1 * F.l1_loss(fake_encoded.float(), b_enc.float())
        loss_z = cfg.lambda_z * F.l1_loss(mu2, z_random)
        (loss_gan + loss_gan2 + loss_kl + loss_l1 + loss_z).backward()
        self.optimizers["E"].step()
        self.optimizers["G"].step()

        # D on the cVAE-GAN branch, D2 on the cLR-GAN branch, the same fakes detached
        losses = {"G_GAN": loss_gan.detach(), "G_GAN2": loss_gan2.detach(), "G_L1": loss_l1.detach(),
                  "z_L1": loss_z.detach(), "kl": loss_kl.detach()}  # fmt: skip
        for name, run, real, fake in (("D", self.run_D, seen(a_enc, b_enc), seen(a_enc, fake_encoded)),
                                      ("D2", self.run_D2, seen(a_rand, b_rand), seen(a_enc, fake_random))):  # fmt: skip
            self.nets[name].requires_grad_(True)
            self.optimizers[name].zero_grad(set_to_none=True)
            with self.runtime.autocast():
                loss_d = self.adversarial(run(fake.detach()), False) + self.adversarial(run(real), True)
            loss_d.backward()
            self.optimizers[name].step()
            losses[name] = loss_d.detach()
        return losses

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """input | G(A, E(B)'s mean) | G(A, z) for three seeds | target, a row per validation pair."""
        self.G.eval()
        self.E.eval()
        x, target = batch["input"], batch["target"]
        try:
            with self.runtime.autocast():
                encoded = self.G(x, self.E(target)[0])
                randoms = [self.G(x, latent(s, self.config.nz).to(self.device).expand(len(x), -1)) for s in GRID_SEEDS]
        finally:
            self.G.train()
            self.E.train()
        columns = [x, encoded.float(), *(r.float() for r in randoms), target]
        return grid([list(row) for row in zip(*columns)])

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        return ("net/G", "net/E")  # E encodes --style images

    @classmethod
    def takes_latent(cls, ckpt: Checkpoint) -> bool:
        return True

    @classmethod
    def generator(cls, ckpt: Checkpoint, device: torch.device, options: TranslateOptions) -> ZUNet:
        cfg = cls.config_from(ckpt)
        net = ZUNet(generator_config(cfg))
        load_net(net, ckpt, "G")
        return for_inference(net, options).to(device)

    @classmethod
    @torch.no_grad()
    def encode_style(cls, ckpt: Checkpoint, device: torch.device, image: Path) -> torch.Tensor:
        """E's posterior mean for a reference photo of the output domain, resized and centre-cropped to the
        training crop: the z that makes G's output look like it (the reference's test with encode=True)."""
        cfg = cls.config_from(ckpt)
        encoder = ResNetEncoder(encoder_config(cfg))
        load_net(encoder, ckpt, "E")
        encoder.eval().to(device)
        x = to_tensor(resize_and_centre_crop(read_image(image, cfg.output_nc), cfg.crop_size))[None].to(device)
        return encoder(x)[0][0].float()

    @classmethod
    def translator(cls, ckpt: Checkpoint, device: torch.device, options: TranslateOptions) -> Translator:
        cfg = cls.config_from(ckpt)
        if options.direction not in (None, cfg.direction):
            raise UsageError(f"{ckpt.path}: this bicyclegan model was trained {cfg.direction} only")
        net = cls.generator(ckpt, device, options)
        z = latent(0, cfg.nz) if options.style is None else cls.encode_style(ckpt, device, options.style)
        half = "left" if cfg.direction == "AtoB" else "right"
        made = Translator(net, cfg.input_nc, cfg.output_nc, cfg.multiple, half, z_dim=cfg.nz, with_z=net)
        return made.at(z)

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        cfg = cls.config_from(ckpt)
        net = cls.generator(ckpt, torch.device("cpu"), TranslateOptions(image_stats=options.image_stats))
        image = image_input("image", cfg.input_nc, cfg.crop_size, cfg.multiple)
        z = GraphInput("z", (BATCH, cfg.nz), "normal", LATENT + "; or E's mean for a style image")
        output = f"(N, {cfg.output_nc}, H, W) in [-1, 1], the input's size"
        return ExportGraph(net, (image, z), output, "G", {"image_stats": options.image_stats, "nz": cfg.nz})
