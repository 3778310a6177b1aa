"""cgan: Unix-style command-line tools for conditional GANs."""

__version__ = "0.1.0"
__date__ = "2026-11-23"  # release date of __version__, bumped with it (the man pages print it; never today's date)
