"""Model families, registered by name; importing this package registers all of them."""

from cgan_cli.families import pix2pix  # noqa: F401  (registers itself)
from cgan_cli.families.base import FAMILIES, Family, TranslateOptions, Translator, create, family_class, register

__all__ = ["FAMILIES", "Family", "TranslateOptions", "Translator", "create", "family_class", "register"]
