"""Model families, registered by name; importing this package registers all of them."""

from cgan_cli.families import acgan, cgan, cyclegan, dcgan, gancls, gigagan, pix2pix, stargan  # noqa: F401  (each registers itself)
from cgan_cli.families.base import (
    FAMILIES,
    ExportGraph,
    ExportOptions,
    Family,
    LabelTranslator,
    SampleOptions,
    Sampler,
    TextSampler,
    TranslateOptions,
    Translator,
    create,
    family_class,
    register,
)

__all__ = [
    "FAMILIES",
    "ExportGraph",
    "ExportOptions",
    "Family",
    "LabelTranslator",
    "SampleOptions",
    "Sampler",
    "TextSampler",
    "TranslateOptions",
    "Translator",
    "create",
    "family_class",
    "register",
]
