"""Text features as the generators see them: padding, blending (GAN-INT), and the table of every
training caption's features, encoded once and cached on disk."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch

from cgan_cli.cache import read_cached, write_cached
from cgan_cli.console import warn
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


def align_ends(text: TextFeatures) -> TextFeatures:
    """Shift each row's tokens right so that its last real token (CLIP's EOT) sits at the last position,
    with masked zeros in front. Models that read tokens through masks and find EOT as the last real
    token (gigagan's text transformer has no positions of its own) see the same text either way."""
    n, length, _ = text.tokens.shape
    if length == 0:
        return text
    lengths = text.mask.long().sum(1)  # real tokens are a prefix
    source = torch.arange(length, device=text.mask.device)[None] - (length - lengths)[:, None]  # (N, L)
    valid = source >= 0
    index = source.clamp(min=0)
    tokens = torch.gather(text.tokens, 1, index[..., None].expand_as(text.tokens)) * valid[..., None]
    return TextFeatures(tokens=tokens, pooled=text.pooled, mask=valid & torch.gather(text.mask, 1, index))


def mix(keys: TextFeatures, weights: torch.Tensor) -> TextFeatures:
    """GAN-INT (Reed et al. 2016) between K texts: (F, K) blend weights → F texts whose embeddings are
    the weighted sums of the keys'. Token sequences are aligned at their ends first, so EOT blends with
    EOT and the last word with the last word; a position is attended to if any key in the blend has it."""
    keys = align_ends(keys)
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
    training step (no host round trip). `image_of[c]` is the image caption c belongs to; `text_id[c]`
    numbers distinct caption texts, so a "mismatched" caption is never the same words.

    Per-token features are kept only for families that read them (gigagan): at captions × tokens × width
    they are the bulk of the table (fp16: CUB's 118k captions × 77 × 512 are 9 GB), while the pooled
    embeddings are small."""

    text: TextFeatures  # tokens (C, L, W) fp16, or (C, 0, W) when not kept
    image_of: torch.Tensor  # (captions,) int64
    text_id: torch.Tensor  # (captions,) int64
    other: torch.Tensor  # (captions,) int64: the next caption of another image with other words

    @classmethod
    def build(
        cls, encoder: TextEncoder, data: CaptionedImages, device: torch.device, tokens: bool = True
    ) -> CaptionTable:
        captions = data.captions()
        key = hashlib.sha256(
            json.dumps(
                {"encoder": encoder.sha256, "captions": captions, "tokens": tokens, "format": CACHE_FORMAT}
            ).encode()
        ).hexdigest()
        cached = read_cached("text", key)
        if cached is None or set(cached) != {"tokens", "pooled", "mask"}:
            parts = [encoder.encode(captions[i : i + 256]) for i in range(0, len(captions), 256)]
            if tokens:
                text = cat([TextFeatures(p.tokens.half().cpu(), p.pooled.float().cpu(), p.mask.cpu()) for p in parts])
            else:
                n, width = len(captions), parts[0].tokens.shape[2]
                pooled = torch.cat([p.pooled.float().cpu() for p in parts])
                text = TextFeatures(
                    torch.zeros(n, 0, width, dtype=torch.half), pooled, torch.zeros(n, 0, dtype=torch.bool)
                )
            cached = {"tokens": text.tokens, "pooled": text.pooled, "mask": text.mask}
            try:
                write_cached("text", key, cached)
            except OSError as exc:  # the cache only saves time: a full or read-only disk must not stop training
                warn(f"could not cache the caption features ({exc.strerror or exc})")
        text = TextFeatures(
            tokens=cached["tokens"].to(device), pooled=cached["pooled"].to(device), mask=cached["mask"].to(device)
        )
        ranges = [data.caption_range(i) for i in range(len(data.items))]
        owner = torch.tensor([i for i, (lo, hi) in enumerate(ranges) for _ in range(lo, hi)], dtype=torch.int64)
        ids: dict[str, int] = {}
        text_id = torch.tensor([ids.setdefault(c, len(ids)) for c in captions], dtype=torch.int64)
        other = _alternatives(owner.tolist(), text_id.tolist())
        return cls(text, owner.to(device), text_id.to(device), other.to(device))

    def __len__(self) -> int:
        return len(self.image_of)

    def gather(self, index: torch.Tensor) -> TextFeatures:
        """(N,) caption indices → their features (tokens in fp32)."""
        return TextFeatures(
            tokens=self.text.tokens[index].float(), pooled=self.text.pooled[index], mask=self.text.mask[index]
        )

    def mismatched(self, index: torch.Tensor) -> torch.Tensor:
        """Captions for the matching-aware terms: the batch shifted by one (DF-GAN, Reed et al.); where the
        shifted caption belongs to the same image (a batch of one) or has the same words, the next
        caption that does neither."""
        shifted = index.roll(1)
        same = (self.image_of[shifted] == self.image_of[index]) | (self.text_id[shifted] == self.text_id[index])
        return torch.where(same, self.other[index], shifted)


def _alternatives(image_of: list[int], text_id: list[int]) -> torch.Tensor:
    """For each caption, the first caption after it (cyclically) of another image and with other words;
    itself only when the whole set has one image or one text."""
    n = len(image_of)
    found = []
    for c in range(n):
        j = (c + 1) % n
        for _ in range(n):
            if image_of[j] != image_of[c] and text_id[j] != text_id[c]:
                break
            j = (j + 1) % n
        else:
            j = c
        found.append(j)
    return torch.tensor(found, dtype=torch.int64)
