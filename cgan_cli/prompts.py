"""Prompts for text-to-image commands: reading them (`-` for stdin), naming their output folders, and
making images for (prompt, seed) pairs: the latent comes from the seed alone, so an image does not
depend on the order or company it is made in (only on rounding, which batch size can change)."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

import torch

from cgan_cli.errors import UsageError
from cgan_cli.families.base import TextSampler
from cgan_cli.generation import full_precision, latent
from cgan_cli.text.features import take, to

SLUG_CHARS = 60  # bounded names: well under any filesystem's 255-byte limit even in 4-byte UTF-8


def read_prompts(args: Iterable[str], stdin: TextIO | None = None) -> list[str]:
    """Prompts in order; `-` stands for newline-separated prompts on stdin (blank lines skipped). A prompt
    given twice is made once."""
    prompts: list[str] = []
    for arg in args:
        if arg == "-":
            stream = stdin if stdin is not None else sys.stdin
            try:
                text = stream.read()
            except UnicodeDecodeError as exc:
                raise UsageError(f"stdin: prompts are not valid text ({exc.reason} at byte {exc.start})") from None
            prompts += [clean(line) for line in text.splitlines() if line.strip()]
        elif arg.strip():
            prompts.append(clean(arg))
        else:
            raise UsageError("a prompt is empty")
    if not prompts:
        raise UsageError("no prompts: give PROMPT arguments or `-` to read them from stdin")
    return list(dict.fromkeys(prompts))


def clean(prompt: str) -> str:
    """One line of text: runs of whitespace (newlines, tabs) become one space, as CLIP's tokenizer reads
    them, so a prompt stays one caption line in its sidecar file."""
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"prompt {prompt!r} is not valid text (undecodable bytes)") from None
    return " ".join(prompt.split())


def slug(prompt: str) -> str:
    """A folder name for a prompt: lower-case words joined by '-', no separators, dots or controls."""
    text = unicodedata.normalize("NFKC", prompt).lower()
    words = re.findall(r"[^\W_]+", text)  # letters and digits of any script
    name = ""
    for word in words:
        if len(name) + len(word) + 1 > SLUG_CHARS:
            name = name or word[:SLUG_CHARS]
            break
        name = f"{name}-{word}" if name else word
    return name or "prompt"


def prompt_names(prompts: list[str]) -> list[str]:
    """One unique name per prompt: the slug, then `-2`, `-3` … for prompts that slug alike."""
    names, seen = [], set()
    for p in prompts:
        base = name = slug(p)
        k = 1
        while name in seen:
            k += 1
            name = f"{base}-{k}"
        seen.add(name)
        names.append(name)
    return names


@dataclass(frozen=True)
class PromptItem:
    prompt: int  # index into the prompt list
    seed: int


@torch.no_grad()
def generate_from_text(
    sampler: TextSampler,
    prompts: list[str],
    items: list[PromptItem],
    device: torch.device,
    batch_size: int = 32,
    psi: float = 1.0,
) -> Iterator[tuple[PromptItem, torch.Tensor]]:
    """(item, image (C, H, W) in [-1, 1] on the CPU) in order."""
    with full_precision():
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            z = torch.stack([latent(it.seed, sampler.z_dim) for it in chunk]).to(device)  # ψ is the family's
            used = list(dict.fromkeys(it.prompt for it in chunk))  # encoded per batch: memory stays bounded
            text = to(sampler.encode([prompts[p] for p in used]), device)
            batch_text = take(text, torch.tensor([used.index(it.prompt) for it in chunk], device=device))
            images = sampler.net(z, batch_text, psi).float().cpu()
            yield from zip(chunk, images)
