"""Image I/O, input collection and dataset layouts."""
