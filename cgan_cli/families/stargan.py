"""StarGAN's data, networks, training step and inference (Choi et al., CVPR 2018), following
yunjey/stargan `solver.py`: D every step (WGAN-GP + domain classification), G every n_critic-th (adversarial,
classification, reconstruction). The options and the paper's defaults are in cgan_cli/config/stargan.py.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.inference import ExportOptions, TranslateOptions
from cgan_cli.config.stargan import SPEC, StarGANConfig
from cgan_cli.data.attributes import label_tensor, read_attributes
from cgan_cli.data.classes import detect_channels, find_classes, resize_and_centre_crop
from cgan_cli.data.grid import grid
from cgan_cli.data.io import read_image, to_tensor
from cgan_cli.device import Runtime
from cgan_cli.errors import UsageError
from cgan_cli.families.base import Family, LabelTranslator, Translator, load_net
from cgan_cli.families.graph import BATCH, ExportGraph, GraphInput, image_input
from cgan_cli.nn.losses import GANLoss, gradient_penalty
from cgan_cli.nn.stargan import StarGANDiscriminator, StarGANGenerator, StarGANNetConfig, use_image_statistics

VALIDATION_IMAGES = 4




class LabelledImageDataset(Dataset):
    """Keyed by (index, seed) like every training set here; the seed draws the flip."""

    def __init__(self, items: list[tuple[Path, int | tuple[float, ...]]], cfg: StarGANConfig) -> None:
        self.items, self.cfg = items, cfg

    def __len__(self) -> int:
        return len(self.items)

    def image(self, path: Path, flip: bool) -> torch.Tensor:
        img = read_image(path, self.cfg.channels)
        if self.cfg.crop_size:
            c, (w, h) = self.cfg.crop_size, img.size
            left, top = max(0, (w - c) // 2), max(0, (h - c) // 2)
            img = img.crop((left, top, left + min(c, w), top + min(c, h)))
        img = resize_and_centre_crop(img, self.cfg.image_size)
        return to_tensor(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        path, label = self.items[index]
        flip = self.cfg.flip and random.Random(seed).random() < 0.5
        return {"image": self.image(path, flip), "label": label_tensor(label, len(self.cfg.domain_names))}


class StarGAN(Family):
    spec = SPEC
    config: StarGANConfig

    @classmethod
    def evaluation_blocker(cls, config: StarGANConfig) -> str:
        return "cgan eval cannot score stargan checkpoints: translating needs a target domain (--to/--set)"

    def __init__(self, config: StarGANConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        self._items: list | None = None
        if not config.domain_names or config.channels == 0:
            names, items = self._read(config)
            if config.domain_names and names != config.domain_names:
                raise UsageError(f"the data's domains {', '.join(names)} differ from {', '.join(config.domain_names)}")
            channels = config.channels or detect_channels([p for p, _ in items])
            self.config = config = dataclasses.replace(
                config, domain_names=names, multi_label=bool(config.attrs), channels=channels
            )
            self._items = items
        self.G = self.add_net("G", StarGANGenerator(net_config(config)))
        self.D = self.add_net("D", StarGANDiscriminator(net_config(config)))
        self.opt_G = self.adam("G", self.G.parameters(), config.lr)
        self.opt_D = self.adam("D", self.D.parameters(), config.lr)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")
        self.wgan = GANLoss("wgangp")

    @staticmethod
    def _read(cfg: StarGANConfig) -> tuple[tuple[str, ...], list]:
        if cfg.attrs:
            select = tuple(a.strip() for a in cfg.select_attrs.split(",") if a.strip()) or cfg.domain_names
            data = read_attributes(Path(cfg.attrs), select, Path(cfg.images) if cfg.images else None)
            return data.names, data.items
        data = find_classes(Path(cfg.domains))
        return data.names, data.items

    def items(self) -> list:
        if self._items is None:
            names, self._items = self._read(self.config)
            if names != self.config.domain_names:
                raise UsageError(f"the data's domains {', '.join(names)} differ from this run's "
                                 f"{', '.join(self.config.domain_names)}")  # fmt: skip
        return self._items

    # --- data -------------------------------------------------------------------------------
    def dataset(self) -> LabelledImageDataset:
        return LabelledImageDataset(self.items(), self.config)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        items = self.items()
        step = max(1, len(items) // VALIDATION_IMAGES)  # spread over the (sorted) domains
        data = self.dataset()
        picked = [data.image(items[i][0], False) for i in range(0, len(items), step)][:VALIDATION_IMAGES]
        labels = [label_tensor(items[i][1], len(self.config.domain_names)) for i in range(0, len(items), step)]
        return {"image": torch.stack(picked), "label": torch.stack(labels[: len(picked)])}

    # --- training ---------------------------------------------------------------------------
    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config.multi_label:  # the reference: BCE summed over attributes, averaged over images
            return F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="sum") / logits.shape[0]
        return F.cross_entropy(logits.float(), labels.argmax(1))

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        x_real, label_org = batch["image"], batch["label"]
        label_trg = label_org[torch.randperm(label_org.shape[0], device=label_org.device)]

        # D: real/fake (WGAN) + domain of the reals + gradient penalty
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            out_src, out_cls = self.run_D(x_real)
            d_real = self.wgan(out_src, real=True)
            d_cls = self.classification_loss(out_cls, label_org)
            with torch.no_grad():
                x_fake = self.run_G(x_real, label_trg)
            d_fake = self.wgan(self.run_D(x_fake)[0], real=False)
            gp = gradient_penalty(lambda x: self.D(x)[0], x_real, x_fake, cfg.lambda_gp)  # eager: see runner
        (d_real + d_fake + cfg.lambda_cls * d_cls + gp).backward()
        self.opt_D.step()
        losses = {"D_real": d_real.detach(), "D_fake": d_fake.detach(), "D_cls": d_cls.detach(), "D_gp": gp.detach()}
        if (self.step + 1) % cfg.n_critic:
            return losses

        # G: fool D as the target domain, and come back to the original
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            x_fake = self.run_G(x_real, label_trg)
            out_src, out_cls = self.run_D(x_fake)
            g_fake = self.wgan(out_src, real=True, generator=True)
            g_cls = self.classification_loss(out_cls, label_trg)
            x_rec = self.run_G(x_fake, label_org)
        g_rec = (x_real.float() - x_rec.float()).abs().mean()
        (g_fake + cfg.lambda_rec * g_rec + cfg.lambda_cls * g_cls).backward()
        self.opt_G.step()
        losses.update(G_fake=g_fake.detach(), G_rec=g_rec.detach(), G_cls=g_cls.detach())
        return losses

    def sample_targets(self, label: torch.Tensor) -> list[torch.Tensor]:
        """Single-label: every domain; multi-label: each attribute flipped in turn."""
        k = len(self.config.domain_names)
        if not self.config.multi_label:
            return [F.one_hot(torch.full_like(label[:, 0], i, dtype=torch.long), k).float() for i in range(k)]
        targets = []
        for i in range(k):
            t = label.clone()
            t[:, i] = 1 - t[:, i]
            targets.append(t)
        return targets

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Rows: the input, then its translation to each domain (or with each attribute flipped)."""
        use_image_statistics(self.G.eval())
        try:
            with self.runtime.autocast():
                outs = [self.G(batch["image"], t) for t in self.sample_targets(batch["label"])]
        finally:
            use_image_statistics(self.G.train(), False)
        return grid([[batch["image"][i]] + [o[i].float() for o in outs] for i in range(len(batch["image"]))])

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        return ("net/G", "net/D")  # D predicts source attributes when --from is not given

    @classmethod
    def label_translator(cls, ckpt: Checkpoint, device: torch.device) -> LabelTranslator:
        cfg = cls.config_from(ckpt)
        G = StarGANGenerator(net_config(cfg))
        load_net(G, ckpt, "G")
        use_image_statistics(G.eval().requires_grad_(False).to(device))
        return LabelTranslator(G, lambda text: encode_labels(text, cfg), cfg.channels, cfg.image_size)

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        """G(image, labels): the target labels are an input; D's guess of the source attributes is left out."""
        cfg = cls.config_from(ckpt)
        names = cfg.domain_names
        which = "0/1 per attribute" if cfg.multi_label else "one-hot"
        labels = GraphInput("labels", (BATCH, len(names)), "binary", f"target labels, {which}: {', '.join(names)}")
        image = image_input("image", cfg.channels, cfg.image_size, 4, 2)
        output = f"(N, {cfg.channels}, H, W) in [-1, 1], the input's size"
        notes = {"domains": list(names), "multi_label": cfg.multi_label}
        return ExportGraph(cls.label_translator(ckpt, torch.device("cpu")).net, (image, labels), output, "G", notes)

    @classmethod
    def export_groups(cls, ckpt: Checkpoint, options: ExportOptions) -> tuple[str, ...]:
        """D only guesses source attributes for multi-label --set without --from; single-label needs G alone."""
        return ("net/G", "net/D") if cls.config_from(ckpt).multi_label else ("net/G",)

    @classmethod
    def targets(cls, ckpt: Checkpoint) -> tuple[str, ...]:
        return cls.config_from(ckpt).domain_names

    @classmethod
    def translator(cls, ckpt: Checkpoint, device: torch.device, options: TranslateOptions) -> Translator:
        cfg = cls.config_from(ckpt)
        names = cfg.domain_names
        G = StarGANGenerator(net_config(cfg))
        load_net(G, ckpt, "G")
        use_image_statistics(G.eval().requires_grad_(False).to(device))
        if not cfg.multi_label:
            if options.sets or options.source:
                raise UsageError("--set and --from are for multi-label (--attrs) models; use --to NAME")
            if options.target is None:
                raise UsageError(f"say which domain with --to NAME (or --to all); domains: {', '.join(names)}")
            target = label_tensor(domain_index(options.target, names), len(names)).to(device)

            def to_domain(x: torch.Tensor) -> torch.Tensor:
                return G(x, target.expand(x.shape[0], -1))

            return Translator(to_domain, cfg.channels, cfg.channels, 4, "left", 8)

        if options.target is not None:
            raise UsageError("--to is for single-label (--domains) models; use --set ATTR=0|1")
        if not options.sets:
            raise UsageError(f"say what to change with --set ATTR=0|1; attributes: {', '.join(names)}")
        changes = {domain_index(k, names): v for k, v in options.sets}
        source = None
        if options.source is not None:
            present = [s.strip() for s in options.source.split(",") if s.strip()]
            source = torch.zeros(len(names), device=device)
            for attr in present:
                source[domain_index(attr, names)] = 1.0
        D = None
        if source is None:
            D = StarGANDiscriminator(net_config(cfg))
            load_net(D, ckpt, "D")
            D.eval().requires_grad_(False).to(device)

        def with_attributes(x: torch.Tensor) -> torch.Tensor:
            if D is None:
                labels = source.expand(x.shape[0], -1).clone()
            else:  # D's classifier head sees the training size
                small = F.interpolate(x, size=(cfg.image_size,) * 2, mode="bilinear", antialias=True)
                labels = (D(small)[1] > 0).float()
            for i, v in changes.items():
                labels[:, i] = v
            return G(x, labels)

        return Translator(with_attributes, cfg.channels, cfg.channels, 4, "left", 8)


def encode_labels(text: str, cfg: StarGANConfig) -> torch.Tensor:
    """A domain name (single-label), or the comma-separated attributes that hold (multi-label; "" = none)."""
    names = cfg.domain_names
    present = [t.strip() for t in text.split(",") if t.strip()]
    if not cfg.multi_label and len(present) != 1:
        raise UsageError(f"name one domain (got {text!r}); domains: {', '.join(names)}")
    labels = torch.zeros(len(names))
    for name in present:
        labels[domain_index(name, names)] = 1.0
    return labels


def domain_index(name: str, names: tuple[str, ...]) -> int:
    if name in names:
        return names.index(name)
    raise UsageError(f"unknown domain or attribute {name!r}; this model knows: {', '.join(names)}")


def net_config(cfg: StarGANConfig) -> StarGANNetConfig:
    return StarGANNetConfig(len(cfg.domain_names), cfg.image_size, cfg.channels, cfg.g_conv_dim, cfg.d_conv_dim,
                            cfg.g_repeat_num)  # fmt: skip
