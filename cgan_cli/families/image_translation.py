"""What pix2pix and CycleGAN build from their shared options (cgan_cli/config/image_translation.py): the
generator a `--net-g` name selects (U-Net or ResNet), the PatchGAN, the preprocessing and the GAN loss."""

from __future__ import annotations

from torch import nn

from cgan_cli.config.choices import RESNET_BLOCKS, UNET_SIZES
from cgan_cli.config.image_translation import ImageTranslationConfig
from cgan_cli.config.inference import TranslateOptions
from cgan_cli.data.transforms import Preprocess
from cgan_cli.nn.losses import GANLoss
from cgan_cli.nn.norm import per_image_batch_norm
from cgan_cli.nn.patchgan import PatchGANConfig
from cgan_cli.nn.resnet import ResNetConfig, ResnetGenerator
from cgan_cli.nn.unet import UNetConfig, UNetGenerator


def generator_config(cfg: ImageTranslationConfig, in_channels: int, out_channels: int) -> UNetConfig | ResNetConfig:
    if cfg.net_g in RESNET_BLOCKS:
        return ResNetConfig(in_channels, out_channels, cfg.ngf, RESNET_BLOCKS[cfg.net_g], cfg.norm, cfg.dropout)
    return UNetConfig(in_channels, out_channels, cfg.ngf, UNET_SIZES[cfg.net_g], cfg.norm, cfg.dropout)


def build_generator(cfg: UNetConfig | ResNetConfig) -> nn.Module:
    return ResnetGenerator(cfg) if isinstance(cfg, ResNetConfig) else UNetGenerator(cfg)


def patchgan_config(cfg: ImageTranslationConfig, in_channels: int) -> PatchGANConfig:
    layers = {"basic": 3, "n_layers": cfg.n_layers_d, "pixel": 0}[cfg.net_d]
    return PatchGANConfig(in_channels, cfg.ndf, layers, cfg.norm)


def preprocessing(cfg: ImageTranslationConfig) -> Preprocess:
    return Preprocess(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip, cfg.multiple)


def gan_loss(cfg: ImageTranslationConfig) -> GANLoss:
    return GANLoss("nonsat" if cfg.loss == "vanilla" else cfg.loss)


def for_inference(net: nn.Module, options: TranslateOptions) -> nn.Module:
    """A trained generator as `cgan translate` runs it: eval mode, then the options that change that
    (`--image-stats`: batch norm from each image's own statistics; `--dropout`: pix2pix's test-time noise)."""
    net.eval()
    if options.image_stats:
        per_image_batch_norm(net)
    if options.dropout:
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.train()
    return net

