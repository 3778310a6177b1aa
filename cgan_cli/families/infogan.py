"""The InfoGAN family (Chen et al., NeurIPS 2016): `LatentGAN` whose G also takes latent codes and whose D grows
a Q head on its shared trunk; it overrides the hooks that draw the codes (`draw`), score Q's recovery of them
(`code_loss`, in both D's and G's losses as openai/InfoGAN), build the networks, the optimisers (G and D at
their own learning rates), the sample grid (a row per category of c0) and the sampler and export graph that
take the codes. The options and defaults are in cgan_cli/config/infogan.py.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.inference import ExportOptions, SampleOptions
from cgan_cli.config.infogan import SPEC, Code, InfoGANConfig
from cgan_cli.device import Runtime
from cgan_cli.families.base import Sampler
from cgan_cli.families.graph import BATCH, ExportGraph, GraphInput, latent_inputs
from cgan_cli.families.latent import LatentGAN
from cgan_cli.families.latent_data import GRID_COLUMNS
from cgan_cli.nn.codes import code_dim, code_vector, draw_codes
from cgan_cli.nn.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANNetConfig, DOutput
from cgan_cli.nn.infogan import InfoGANDiscriminator, InfoGANGenerator

__all__ = ["InfoGAN", "InfoGANConfig", "info_loss", "q_dim"]

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
NOISE = (
    "cgan's seed s: torch.randn(z_dim, generator=g) with g = torch.Generator().manual_seed(s), which then draws "
    "each code in order, torch.randint(K, (1,), generator=g) or torch.rand(1, generator=g) * 2 - 1"
)


def q_dim(codes: Sequence[Code], cont_loss: str) -> int:
    """Q's outputs: each categorical code's logits, then each continuous code's mean (and, gaussian, log-std)."""
    continuous = sum(c.kind == "continuous" for c in codes)
    return sum(c.categories for c in codes) + continuous * (2 if cont_loss == "gaussian" else 1)


def info_loss(q: torch.Tensor, codes: Sequence[Code], values: Sequence[torch.Tensor], cont_loss: str,
              lambda_info: float, lambda_cont: float) -> torch.Tensor:  # fmt: skip
    """The negative of InfoGAN's mutual-information bound (without the codes' constant prior entropy), batch mean:
    λ_info · Σ cross-entropy of each categorical code's logits with its drawn category + λ_cont · Σ over the
    continuous codes of the Gaussian NLL under Q's mean and std 1 (fixed) or Q's (mean, log-std) (gaussian), or of
    the squared error of Q's mean (mse)."""
    q = q.float()
    total = q.new_zeros(())
    offset = 0
    continuous = []
    for code, value in zip(codes, values, strict=True):
        if code.kind == "categorical":
            total = total + lambda_info * F.cross_entropy(q[:, offset : offset + code.categories], value.long())
            offset += code.categories
        else:
            continuous.append(value.float())
    if continuous:
        c = torch.stack(continuous, 1)  # (N, n_cont)
        n = c.shape[1]
        mean = q[:, offset : offset + n]
        if cont_loss == "gaussian":
            log_std = q[:, offset + n : offset + 2 * n]
            nll = HALF_LOG_2PI + log_std + 0.5 * ((c - mean) * torch.exp(-log_std)) ** 2
        elif cont_loss == "fixed":
            nll = HALF_LOG_2PI + 0.5 * (c - mean) ** 2
        else:
            nll = (c - mean) ** 2
        total = total + lambda_cont * nll.sum(1).mean()
    return total


class InfoGAN(LatentGAN):
    spec = SPEC
    config: InfoGANConfig
    full_batches = True  # Q's hidden layer (and the paper net's FC layers) normalise over the batch

    def __init__(self, config: InfoGANConfig, runtime: Runtime | torch.device) -> None:
        self.codes = config.codes()
        # --net auto is stored as the net it chose, so that a checkpoint names its networks whatever the default
        super().__init__(dataclasses.replace(config, net=config.resolved_net()), runtime)

    @classmethod
    def config_from(cls, ckpt: Checkpoint) -> InfoGANConfig:
        """The run's config; a checkpoint written before --net existed has the DCGAN backbone."""
        if "net" not in ckpt.config:
            ckpt = dataclasses.replace(ckpt, config={**ckpt.config, "net": "dcgan"})
        return super().config_from(ckpt)  # type: ignore[return-value]

    def uses_classes(self) -> bool:
        return bool(self.config.classes)  # --classes: also class-conditional

    @classmethod
    def net_config(cls, config: InfoGANConfig) -> DCGANNetConfig:
        codes = config.codes()
        net = dataclasses.replace(super().net_config(config), code_dim=code_dim(codes),
                                  q_dim=q_dim(codes, config.cont_loss))  # fmt: skip
        if not config.classes:
            return net
        k = len(config.class_names)  # as cgan: G's class embedding, D's projection
        return dataclasses.replace(net, num_classes=k, g_cond="embed", embed_dim=k, d_cond="projection")

    @classmethod
    def build_generator(cls, config: InfoGANConfig) -> nn.Module:
        """The paper's MNIST G (cgan_cli/nn/infogan.py) or DCGAN's, as --net says."""
        paper = config.resolved_net() == "paper"
        return (InfoGANGenerator if paper else DCGANGenerator)(cls.net_config(config))

    @classmethod
    def build_discriminator(cls, config: InfoGANConfig) -> nn.Module:
        paper = config.resolved_net() == "paper"
        return (InfoGANDiscriminator if paper else DCGANDiscriminator)(cls.net_config(config))

    def optimizer(self, name: str, net: nn.Module) -> torch.optim.Optimizer:
        opt = self.config.d_optimiser() if name == "D" else self.optim
        if opt.kind == "rmsprop":
            return self.rmsprop(name, net.parameters(), opt.lr)
        return self.adam(name, net.parameters(), opt.lr, opt.betas)

    # --- the codes --------------------------------------------------------------------------
    def latent(self, z: torch.Tensor, values: Sequence[torch.Tensor]) -> torch.Tensor:
        """G's latent input: the noise, then the codes (cgan_cli/nn/codes.py)."""
        return torch.cat([z, code_vector(self.codes, values, z.dtype)], 1)

    def draw(self, labels: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Noise N(0, I) and each code from its prior: categories uniformly, continuous codes uniform in (-1, 1)."""
        n, dev = labels.shape[0], self.device
        z = torch.randn(n, self.config.z_dim, device=dev)
        values = draw_codes(self.codes, n, device=dev)
        return self.latent(z, values), values

    def code_loss(self, out: DOutput, codes: list[torch.Tensor]) -> torch.Tensor:
        cfg = self.config
        return info_loss(out.codes, self.codes, codes, cfg.cont_loss, cfg.lambda_info, cfg.lambda_cont)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        """The classic figure: one row per category of c0 (up to 10), one column per noise, which (with the other
        codes, and the class with --classes) each column keeps down its rows; 8×8 random tiles without a
        categorical code."""
        cfg = self.config
        g = torch.Generator().manual_seed(cfg.seed)
        first = self.codes[0]
        rows = min(first.categories, 10) if first.kind == "categorical" else GRID_COLUMNS
        cols = GRID_COLUMNS if first.kind == "categorical" else rows * GRID_COLUMNS
        z = torch.randn(cols, cfg.z_dim, generator=g)
        values = draw_codes(self.codes, cols, g)
        labels = torch.arange(cols) % max(1, len(cfg.class_names)) if self.uses_classes() else torch.zeros(cols)
        if first.kind == "categorical":
            z, labels = z.repeat(rows, 1), labels.repeat(rows)
            values = [torch.arange(rows).repeat_interleave(cols)] + [v.repeat(rows) for v in values[1:]]
        return {"z": self.latent(z, values), "label": labels.long()}

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def sampler(cls, ckpt: Checkpoint, device: torch.device, options: SampleOptions) -> Sampler:
        cfg = cls.config_from(ckpt)
        sampler = super().sampler(ckpt, device, options)
        return dataclasses.replace(sampler, class_names=cfg.class_names if cfg.classes else (), codes=cfg.codes())

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        sampler = cls.sampler(ckpt, torch.device("cpu"), SampleOptions(ema=options.ema))
        z, psi = latent_inputs(sampler.z_dim, "ψ in [0, 1]: the noise z is scaled by it (1: off; not the codes)")
        z = dataclasses.replace(z, meaning=f"noise, N(0, 1): {NOISE}")
        codes = tuple(
            GraphInput(c.name, (BATCH,), "index", f"categorical code {c.name}: a category 0 … {c.categories - 1}",
                       high=c.categories) if c.kind == "categorical"
            else GraphInput(c.name, (BATCH,), "uniform", f"continuous code {c.name}: its prior is uniform in (-1, 1)")
            for c in sampler.codes
        )  # fmt: skip
        names = sampler.class_names
        size = sampler.image_size
        output = f"(N, {sampler.channels}, {size}, {size}) in [-1, 1]"
        weights = "G_ema" if sampler.ema else "G"
        notes = {"codes": [c._asdict() for c in sampler.codes]}
        module = CodeGraph(sampler.net, sampler.codes, bool(names))
        if not names:
            return ExportGraph(module, (z, *codes, psi), output, weights, notes)
        label = GraphInput("label", (BATCH,), "index", f"class index: {', '.join(names)}", high=len(names))
        return ExportGraph(module, (z, *codes, label, psi), output, weights, {**notes, "classes": list(names)})


class CodeGraph(nn.Module):
    """G(ψ·z ⊕ codes [, class vector of the label]): `cgan sample --code …` as one graph, a named input per code."""

    def __init__(self, G: DCGANGenerator | InfoGANGenerator, codes: tuple[Code, ...], conditional: bool) -> None:
        super().__init__()
        self.G, self.codes, self.conditional = G, codes, conditional

    def forward(self, z: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        values, truncation = rest[: len(self.codes)], rest[-1]
        latent = torch.cat([z * truncation, code_vector(self.codes, values, z.dtype)], 1)
        if not self.conditional:
            return self.G(latent)
        return self.G(latent, self.G.class_vector(rest[len(self.codes)]))
