"""Text features as the generators see them: padding, blending (GAN-INT), and the table of every
training caption's features, encoded once and cached on disk."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch

from cgan_cli.cache import read_cached, write_cached
from cgan_cli.data.captions import CaptionedImages
from cgan_cli.text.clip import TextEncoder, TextFeatures


def pad(text: TextFeatures, length: int) -> TextFeatures:
    """Right-pad the token axis with masked zeros to `length` (≥ the current length)."""
    n, cur, width = text.tokens.shape
    if cur == length:
        return text
    tokens = torch.zeros(n, length, width, dtype=text.tokens.dtype, device=text.tokens.device)
    mask = torch.zeros(n, length, dtype=torch.bool, device=text.mask.device)
    tokens[:, :cur], mask[:, :cur] = text.tokens, text.mask
    return TextFeatures(tokens=tokens, pooled=text.pooled, mask=mask)


def cat(parts: list[TextFeatures]) -> TextFeatures:
    length = max(p.tokens.shape[1] for p in parts)
    parts = [pad(p, length) for p in parts]
    return TextFeatures(
        tokens=torch.cat([p.tokens for p in parts]),
        pooled=torch.cat([p.pooled for p in parts]),
        mask=torch.cat([p.mask for p in parts]),
    )


def take(text: TextFeatures, index: torch.Tensor | slice | list[int]) -> TextFeatures:
    return TextFeatures(tokens=text.tokens[index], pooled=text.pooled[index], mask=text.mask[index])


def mix(keys: TextFeatures, weights: torch.Tensor) -> TextFeatures:
    """GAN-INT (Reed et al. 2016) between K texts: (F, K) blend weights → F texts whose embeddings are
    the weighted sums of the keys'. Token features blend position by position; a token is attended to
    if any text with weight in the blend has it."""
    weights = weights.to(keys.pooled)
    used = weights != 0  # (F, K)
    return TextFeatures(
        tokens=torch.einsum("fk,kld->fld", weights, keys.tokens.to(weights)),
        pooled=weights @ keys.pooled,
        mask=(used[:, :, None] & keys.mask[None]).any(dim=1),
    )


def to(text: TextFeatures, device: torch.device, dtype: torch.dtype = torch.float32) -> TextFeatures:
    return TextFeatures(
        tokens=text.tokens.to(device, dtype), pooled=text.pooled.to(device, dtype), mask=text.mask.to(device)
    )


CACHE_FORMAT = 1


@dataclass
class CaptionTable:
    """Every training caption's CLIP features on the device, looked up by global caption index in the
    training step (no host round trip). `image_of[c]` is the image caption c belongs to."""

    text: TextFeatures  # tokens stored in fp16: the table of a real dataset is hundreds of MB in fp32
    image_of: torch.Tensor  # (captions,) int64
    first_of_image: torch.Tensor  # (images,) int64: each image's first caption

    @classmethod
    def build(cls, encoder: TextEncoder, data: CaptionedImages, device: torch.device) -> CaptionTable:
        captions = data.captions()
        key = hashlib.sha256(
            json.dumps({"encoder": encoder.sha256, "captions": captions, "format": CACHE_FORMAT}).encode()
        ).hexdigest()
        cached = read_cached("text", key)
        if cached is None or set(cached) != {"tokens", "pooled", "mask"}:
            parts = [encoder.encode(captions[i : i + 256]) for i in range(0, len(captions), 256)]
            text = cat([TextFeatures(p.tokens.half().cpu(), p.pooled.float().cpu(), p.mask.cpu()) for p in parts])
            cached = {"tokens": text.tokens, "pooled": text.pooled, "mask": text.mask}
            write_cached("text", key, cached)
        text = TextFeatures(
            tokens=cached["tokens"].to(device), pooled=cached["pooled"].to(device), mask=cached["mask"].to(device)
        )
        ranges = [data.caption_range(i) for i in range(len(data.items))]
        owner = torch.tensor([i for i, (lo, hi) in enumerate(ranges) for _ in range(lo, hi)], dtype=torch.int64)
        first = torch.tensor([lo for lo, _ in ranges], dtype=torch.int64)
        return cls(text, owner.to(device), first.to(device))

    def __len__(self) -> int:
        return len(self.image_of)

    def gather(self, index: torch.Tensor) -> TextFeatures:
        """(N,) caption indices → their features in fp32."""
        return TextFeatures(
            tokens=self.text.tokens[index].float(), pooled=self.text.pooled[index], mask=self.text.mask[index]
        )

    def mismatched(self, index: torch.Tensor) -> torch.Tensor:
        """Captions for the matching-aware terms: the batch shifted by one (DF-GAN, Reed et al.); where the
        shifted caption belongs to the same image (a batch of one), the next image's first caption."""
        shifted = index.roll(1)
        image = self.image_of[index]
        same = self.image_of[shifted] == image
        other = self.first_of_image[(image + 1) % len(self.first_of_image)]
        return torch.where(same, other, shifted)
