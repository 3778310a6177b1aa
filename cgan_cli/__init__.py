"""cgan: Unix-style command-line tools for conditional GANs."""

__version__ = "0.1.0"
