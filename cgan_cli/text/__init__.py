"""Text conditioning: a frozen open_clip text tower (and image tower for CLIP score and CLIP losses)."""
