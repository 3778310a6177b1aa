"""What a model family provides: the `Family` base class, and the ready-to-run objects inference asks it for.

A family owns its networks, optimizers, dataset and one training step; the shared `Trainer`
(cgan_cli/trainer.py) owns everything around the step. It is built with a `Runtime` (device, precision,
compile), passed in rather than read from globals. Inference commands ask the family for a ready-to-run
object (`translator`, `sampler`, ...) built from a checkpoint alone. The registry by name is in
cgan_cli/families/__init__.py; the options each family offers are in cgan_cli/config/.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from cgan_cli.checkpoint import Checkpoint, load_checkpoint, read_metadata
from cgan_cli.config import FamilySpec, TrainConfig, from_dict, validate
from cgan_cli.config.inference import ExportOptions, SampleOptions, TranslateOptions
from cgan_cli.config.infogan import Code
from cgan_cli.device import Runtime, memory_format
from cgan_cli.errors import CheckpointError
from cgan_cli.families import family_class, family_spec

if TYPE_CHECKING:
    from cgan_cli.families.graph import ExportGraph


@dataclass
class Translator:
    """An image-to-image network ready for inference, and what the images fed to it must look like."""

    net: Callable[[torch.Tensor], torch.Tensor]
    in_channels: int
    out_channels: int
    multiple: int  # input sides must be multiples of this; callers pad and crop back
    aligned_half: str  # "left" or "right": which half of an A|B file is this network's input
    min_side: int = 1  # smaller inputs are padded up to this (instance norm needs a bottleneck above 1×1)
    z_dim: int = 0  # BicycleGAN: `net` is `with_z` at one fixed latent; `at(z)` gives it another
    with_z: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  # (x, z) → images
    # label-map inputs (SPADE): reads one file (with --aligned, its "left" or "right" half) as uint8 (1, H, W) class
    # indices, which reach `net` as index/127.5 - 1 (net decodes them); --size resizes them nearest, never blended
    read_labels: Callable[[Path, str | None], torch.Tensor] | None = None

    def at(self, z: torch.Tensor) -> Translator:
        """This translator with its latent fixed to `z` (z_dim,), for every image of every batch."""
        if self.with_z is None:
            raise TypeError("at(z) needs a translator that takes a latent")
        return replace(self, net=FixedLatent(self.with_z, z))


class FixedLatent(nn.Module):
    """`net(x, z)` as `net(x)` with z held fixed (broadcast over the batch): what translate runs per seed."""

    def __init__(self, net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        device = next(net.parameters()).device if isinstance(net, nn.Module) else z.device
        self.register_buffer("z", z.detach().reshape(1, -1).to(device))
        self.channels_last_on_cpu = getattr(net, "channels_last_on_cpu", False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.z.expand(x.shape[0], -1))


@dataclass
class Sampler:
    """A latent-to-image network ready for inference: `net(z, cond)` with `cond = class_vector(labels)`.

    Interpolation blends z and condition vectors, so families with other conditions (domains, text)
    plug in by supplying their own `class_vector`-like encoder. InfoGAN's latent codes (`codes`, in G's input
    after the z_dim noise dimensions) are drawn per seed or fixed by cgan_cli/generation.py `latents`.
    """

    net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    z_dim: int
    class_names: tuple[str, ...]  # empty: unconditional
    class_vector: Callable[[torch.Tensor], torch.Tensor]  # (N,) labels → (N, cond_dim)
    channels: int
    image_size: int
    ema: bool  # the EMA weights are in use
    codes: tuple[Code, ...] = ()  # InfoGAN's latent codes, c0, c1, …; none for the other families


@dataclass
class LabelTranslator:
    """An image-to-image network steered by a label vector (StarGAN): interpolation blends labels."""

    net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, labels) → images
    encode: Callable[[str], torch.Tensor]  # "Blond_Hair,Young" or "happy" → (c_dim,) label vector
    channels: int
    image_size: int


@dataclass
class TextSampler:
    """A prompt-to-image network ready for inference: `net(z, text, ψ)`, with `text = encode(prompts)`.

    `text` is the frozen CLIP encoder's output (per-token features, mask, pooled embedding); text
    interpolation blends it, so GAN-INT walks work for every text family alike.
    """

    net: Callable[[torch.Tensor, Any, float], torch.Tensor]
    encode: Callable[[list[str]], Any]  # prompts → TextFeatures on the device
    z_dim: int
    channels: int
    image_size: int
    ema: bool
    encoder: str  # the text encoder, described for logs and --json


class Family(ABC):
    spec: ClassVar[FamilySpec]  # a concrete family's registry entry: its name, summary, config and makes
    name: ClassVar[str]
    summary: ClassVar[str]
    Config: ClassVar[type[TrainConfig]]
    makes: ClassVar[str]
    full_batches: ClassVar[bool] = False  # every batch full (an epoch's last filled from its start): BatchNorm1d
    export_choices: ClassVar[tuple[str, ...]] = ()  # ExportOptions fields beyond `ema` that apply

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A family that declares its `spec` takes its name, summary, config and `makes` from it: one source."""
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.name, cls.summary, cls.Config, cls.makes = spec.name, spec.summary, spec.Config, spec.makes

    def __init__(self, config: TrainConfig, runtime: Runtime | torch.device) -> None:
        validate(config)
        runtime = Runtime.of(runtime)
        torch.manual_seed(config.seed)  # network init, dropout and penalties all draw from here
        if runtime.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
        self.config = config
        self.runtime = runtime
        self.device = runtime.device
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.step = 0  # steps completed before the current one; the trainer keeps it

    # --- training -----------------------------------------------------------------------------
    @abstractmethod
    def dataset(self) -> Dataset:
        """Training items; keys are (index, augmentation seed) from the resumable sampler."""

    @abstractmethod
    def validation_batch(self) -> dict[str, torch.Tensor]:
        """A fixed batch shown in every sample grid."""

    @abstractmethod
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached scalar losses left on the device (no sync)."""

    @abstractmethod
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(C, H, W) image in [-1, 1] showing what the model does on `batch`."""

    def show(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """What the trainer writes at a sample step: the grid and the figures of the same batch (families that
        can make both from one forward pass override this)."""
        return self.sample_grid(batch), self.sample_stats(batch)

    @classmethod
    def evaluation_blocker(cls, config: TrainConfig) -> str:
        """Why `cgan eval` cannot score this run's checkpoints on its own ("": it can), for --eval-every."""
        return ""

    def sample_stats(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Figures of the fixed validation batch that the trainer logs beside each sample grid (e.g. the
        latent families' sample diversity, which falls when G collapses); none by default."""
        return {}

    # --- helpers for subclasses ---------------------------------------------------------------
    def add_net(self, name: str, net: nn.Module) -> nn.Module:
        self.nets[name] = net.to(self.device, memory_format=memory_format(self.device))
        return self.nets[name]

    def runner(self, name: str) -> Callable[..., torch.Tensor]:
        """The network to call in the hot loop: compiled when --compile (state dicts stay unprefixed).
        Gradient penalties (WGAN-GP, R1, MA-GP) differentiate D twice, which torch.compile's aot_autograd
        cannot: they call the eager net (`self.nets[name]`), which shares the compiled one's weights."""
        net = self.nets[name]
        return torch.compile(net) if self.runtime.compile else net

    def adam(
        self, name: str, params: Any, lr: float, betas: tuple[float, float] | None = None
    ) -> torch.optim.Optimizer:
        """Adam (fused on CUDA) with the config's betas unless given, registered under `name`."""
        fused = self.device.type == "cuda"
        betas = betas or (self.config.beta1, self.config.beta2)
        return self._register(name, torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None))

    def rmsprop(self, name: str, params: Any, lr: float) -> torch.optim.Optimizer:
        """RMSprop at PyTorch's defaults (α 0.99), as the original WGAN trains its critic and generator."""
        return self._register(name, torch.optim.RMSprop(params, lr=lr))

    def _register(self, name: str, opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]  # the learning-rate schedule scales this
        self.optimizers[name] = opt
        return opt

    def set_lr_factor(self, factor: float) -> None:
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def set_base_lr(self, lr: float) -> None:
        """A new base learning rate (ProGAN's per resolution), under the schedule's current factor."""
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                factor = group["lr"] / group["initial_lr"] if group["initial_lr"] else 1.0
                group["initial_lr"], group["lr"] = lr, lr * factor

    def train_mode(self, on: bool = True) -> None:
        for net in self.nets.values():
            net.train(on)

    # --- state in checkpoints -----------------------------------------------------------------
    def progress(self, step: int) -> dict[str, Any]:
        """Where a run stands after `step` steps beyond the step itself (ProGAN: resolution and α), recorded in
        the checkpoint's `state` and shown by `cgan info`; nothing by default."""
        return {}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {}
        for name, net in self.nets.items():
            tensors.update({f"net/{name}/{k}": v for k, v in net.state_dict().items()})
        for name, opt in self.optimizers.items():
            for idx, st in opt.state_dict()["state"].items():
                tensors.update({f"optim/{name}/{idx}.{k}": v for k, v in st.items() if torch.is_tensor(v)})
        return tensors

    def optimizer_groups(self) -> dict[str, Any]:
        return {name: opt.state_dict()["param_groups"] for name, opt in self.optimizers.items()}

    def load_state(self, ckpt: Checkpoint) -> None:
        for name, net in self.nets.items():
            load_net(net, ckpt, name)
        groups = ckpt.state.get("optimizers", {})
        for name, opt in self.optimizers.items():
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in ckpt.sub(f"optim/{name}").items():
                idx, _, field = key.partition(".")
                state.setdefault(int(idx), {})[field] = value
            saved_groups = json.loads(json.dumps(groups.get(name, [])))
            for group in saved_groups:
                if "betas" in group:
                    group["betas"] = tuple(group["betas"])
            try:
                opt.load_state_dict({"state": state, "param_groups": saved_groups})
            except (ValueError, KeyError, RuntimeError) as exc:
                raise CheckpointError(f"{ckpt.path}: optimizer {name} does not match the model ({exc})") from None

    # --- inference ----------------------------------------------------------------------------
    @classmethod
    def config_from(cls, ckpt: Checkpoint) -> TrainConfig:
        try:
            return from_dict(cls.Config, ckpt.config)
        except TypeError as exc:
            raise CheckpointError(f"{ckpt.path}: config does not fit family {cls.name} ({exc})") from None

    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        """Checkpoint tensor groups inference needs (the rest of a training checkpoint is not read)."""
        return ("net/G",)

    @classmethod
    def takes_latent(cls, ckpt: Checkpoint) -> bool:
        """Whether this checkpoint's translator takes a latent z besides the image (BicycleGAN, SPADE's VAE)."""
        return False

    @classmethod
    def translator(cls, ckpt: Checkpoint, device: torch.device, options: TranslateOptions) -> Translator:
        hint = "text2img" if cls.makes == "text" else "sample"
        raise CheckpointError(f"{ckpt.path}: a {cls.name} checkpoint cannot translate images (try cgan {hint})")

    @classmethod
    def label_translator(cls, ckpt: Checkpoint, device: torch.device) -> LabelTranslator:
        raise CheckpointError(f"{ckpt.path}: a {cls.name} checkpoint has no domain labels to interpolate")

    @classmethod
    def targets(cls, ckpt: Checkpoint) -> tuple[str, ...]:
        """Names `--to all` expands to (multi-domain families)."""
        return ()

    @classmethod
    def sampler(cls, ckpt: Checkpoint, device: torch.device, options: SampleOptions) -> Sampler:
        made = "text (try cgan text2img)" if cls.makes == "text" else "inputs (try cgan translate)"
        raise CheckpointError(f"{ckpt.path}: a {cls.name} checkpoint makes images from {made}")

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        """The generator as `cgan export` writes it to ONNX/TorchScript (on the CPU, in eval mode)."""
        raise CheckpointError(f"{ckpt.path}: {cls.name} models cannot be exported yet")

    @classmethod
    def export_groups(cls, ckpt: Checkpoint, options: ExportOptions) -> tuple[str, ...]:
        """The tensor groups an inference-only safetensors export keeps: what inference reads, with only
        the generator weights chosen (EMA unless --no-ema)."""
        present = set(ckpt.groups)
        ema = options.ema and "net/G_ema" in present
        drop = "net/G" if ema else "net/G_ema"
        return tuple(g for g in cls.inference_groups() if g in present and g != drop)

    @classmethod
    def text_sampler(cls, ckpt: Checkpoint, device: torch.device, options: SampleOptions) -> TextSampler:
        raise CheckpointError(f"{ckpt.path}: a {cls.name} checkpoint does not make images from text")


def open_checkpoint(path: Path, groups: str = "inference") -> tuple[type[Family], Checkpoint]:
    """The one way commands open a checkpoint: the header read and verified once, the family's code found
    from it, then the tensor groups asked for read and verified: "none" (the header: family, config, step),
    "inference" (what the family's inference reads) or "all" (resume, inspection)."""
    header = read_metadata(path)
    cls = family_class(header.get("family", "?"), path)
    wanted = {"none": (), "inference": cls.inference_groups(), "all": None}[groups]
    return cls, load_checkpoint(path, wanted, header)


def checkpoint_makes(path: Path) -> str:
    """What a checkpoint's family makes at inference ("translations", "samples" or "text"), from its header."""
    return family_spec(read_metadata(path).get("family", "?"), path).makes


def load_net(net: nn.Module, ckpt: Checkpoint, name: str) -> None:
    """Load `net/<name>/…` tensors strictly, with a one-line error when they do not fit."""
    state = ckpt.sub(f"net/{name}")
    if not state:
        export = ckpt.state.get("export")
        if export:
            kept = ", ".join(export.get("groups", []))
            raise CheckpointError(
                f"{ckpt.path}: an inference-only export (of {kept}) has no weights for network {name}; "
                "use the training checkpoint"
            )
        raise CheckpointError(f"{ckpt.path}: has no weights for network {name}")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise CheckpointError(f"{ckpt.path}: weights for {name} do not fit its config ({detail[:200]})") from None
