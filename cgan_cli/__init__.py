"""cgan: Unix-style command-line tools for conditional GANs."""

__version__ = "0.1.0"
# the date each version was released: man pages print it, never today's date, so they regenerate byte for
# byte; a new __version__ without its date fails at import
RELEASES = {"0.1.0": "2026-11-23"}
__date__ = RELEASES[__version__]
