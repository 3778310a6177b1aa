"""Layers, networks and losses shared by the model families."""
