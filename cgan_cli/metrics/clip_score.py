"""CLIP score (Hessel et al. 2021) as torchmetrics' `CLIPScore` computes it: the mean over images of
100 · cos(E_img(x), E_txt(caption)), clipped at 0. Images go through the encoder's own preprocessing
(shorter side resized bicubically to its input size, centre crop, CLIP's mean/std), done on tensors here
where torchmetrics uses the Hugging Face processor on PIL images, so values agree to the resize's
rounding. torchmetrics defaults to ViT-L/14; the backbone is recorded with every result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from PIL import Image

from cgan_cli.data.io import to_tensor
from cgan_cli.text.clip import ImageEncoder, TextEncoder


@torch.no_grad()
def clip_scores(
    images: Iterable[Image.Image | None],
    captions: list[str],
    image_encoder: ImageEncoder,
    text_encoder: TextEncoder,
    batch_size: int = 64,
    on_progress: Callable[[int], None] = lambda k: None,
) -> torch.Tensor:
    """Per-image scores 100·cos of images paired with captions in order; an image given as None
    (unreadable) gets NaN and is left out of the mean by `clip_score`."""
    device = next(image_encoder.parameters()).device
    scores: list[torch.Tensor] = []
    batch: list[tuple[int, torch.Tensor]] = []
    position = 0

    def flush() -> None:
        if not batch:
            return
        index = [i for i, _ in batch]
        sizes = {t.shape[-2:] for _, t in batch}
        if len(sizes) == 1:
            x = torch.stack([t for _, t in batch]).to(device)
            emb_img = image_encoder(x)
        else:  # mixed sizes: one at a time, each through the same resize
            emb_img = torch.cat([image_encoder(t[None].to(device)) for _, t in batch])
        emb_txt = text_encoder.encode([captions[i] for i in index]).pooled.to(device)
        cos = F.cosine_similarity(emb_img.float(), emb_txt.float(), dim=-1)
        scores.append((100 * cos).cpu())
        on_progress(len(batch))
        batch.clear()

    for image in images:
        if position >= len(captions):
            raise ValueError(f"more images than captions ({len(captions)})")
        if image is None:
            flush()
            scores.append(torch.tensor([float("nan")]))
        else:
            batch.append((position, to_tensor(image.convert("RGB"))))
            if len(batch) == batch_size:
                flush()
        position += 1
    flush()
    return torch.cat(scores) if scores else torch.zeros(0)


def clip_score(scores: torch.Tensor) -> float:
    """max(mean, 0) over the images that could be read (torchmetrics clips the mean, not each image)."""
    valid = scores[~torch.isnan(scores)]
    if valid.numel() == 0:
        raise ValueError("CLIP score: no image could be read")
    return max(float(valid.mean()), 0.0)
