"""The image history buffer of Shrivastava et al. 2017, as CycleGAN uses it (reference `ImagePool`,
50 images): D sees a fake from the pool half the time once it is full, which damps oscillation.

Unlike the reference (Python's global `random`), draws come from the pool's own torch generator, and
the pool's images and generator state go into checkpoints, so a resumed run continues exactly.
"""

from __future__ import annotations

import torch


class ImagePool:
    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []  # (C, H, W) each
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Per image: store it while the pool fills; then with p = 0.5 swap it for a random stored one."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand((), generator=self.generator)) > 0.5:
                slot = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[slot])
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        tensors = {f"{prefix}/rng": self.generator.get_state()}
        tensors.update({f"{prefix}/{i:04d}": img.cpu() for i, img in enumerate(self.images)})
        return tensors

    def load(self, tensors: dict[str, torch.Tensor], device: torch.device) -> None:
        """Restore from `state()`'s tensors with the prefix stripped."""
        if "rng" in tensors:
            self.generator.set_state(tensors["rng"])
        self.images = [tensors[k].to(device) for k in sorted(k for k in tensors if k != "rng")]
