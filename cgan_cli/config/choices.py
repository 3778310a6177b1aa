"""The names an option may take, shared by the configs that offer them and the code they select.

Torch-free on purpose: `--help` and shell completion list these choices without importing any network,
and the networks, losses and transforms validate against the same tables.
"""

from __future__ import annotations

from cgan_cli.errors import UsageError

GAN_LOSSES = ("vanilla", "nonsat", "lsgan", "hinge", "wgangp")
ADVERSARIAL = (*GAN_LOSSES, "wgan")  # what GANLoss computes: wgan is wgangp's critic loss without the penalty
LATENT_LOSSES = (*ADVERSARIAL, "r3gan")  # the latent families also clip WGAN's weights and pair RpGAN's logits
SMOOTHABLE = ("vanilla", "nonsat", "lsgan")  # losses with a real-label target that one-sided smoothing can lower
NORMS = ("batch", "instance", "none")
UNET_SIZES = {"unet_32": 5, "unet_64": 6, "unet_128": 7, "unet_256": 8, "unet_512": 9}  # name → downsamplings
RESNET_BLOCKS = {"resnet_9blocks": 9, "resnet_6blocks": 6}  # name → residual blocks


def generator_multiple(net_g: str) -> int:
    """Input sides a `--net-g` generator takes must be multiples of this (its network config's `multiple`:
    a U-Net halves the side num_downs times, a ResNet twice)."""
    return 4 if net_g in RESNET_BLOCKS else 2 ** UNET_SIZES[net_g]


PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DIRECTIONS = ("AtoB", "BtoA")
LATENT_IMAGE_SIZES = (32, 64, 128)  # the DCGAN backbone's sides
TEXT_IMAGE_SIZES = (32, 64, 128, 256)  # DF-GAN's sides
DIFFAUG_POLICIES = ("color", "translation", "cutout")


def policy_name(name: str) -> str:
    """A DiffAugment policy name, checked."""
    if name not in DIFFAUG_POLICIES:
        raise ValueError(f"unknown DiffAugment policy {name!r}; choose from {', '.join(DIFFAUG_POLICIES)}")
    return name


def parse_policy(text: str) -> tuple[str, ...]:
    """`"color,translation,cutout"` → `("color", "translation", "cutout")`; `""` → `()` (no augmentation)."""
    if not text.strip():
        return ()
    names = tuple(policy_name(part.strip()) for part in text.split(","))
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"DiffAugment policy {name!r} is listed twice in {text!r}")
    return names


def check_policy(text: str) -> None:
    """`--diffaug` validation for configs: a bad policy is a usage error naming the flag."""
    try:
        parse_policy(text)
    except ValueError as exc:
        raise UsageError(f"--diffaug: {exc}") from None
