"""Device choice and the GPU fast-path switches (bf16 autocast, channels_last) in one place, and the
`Runtime` that carries a command's device, precision and compile choice to what it runs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from cgan_cli.errors import UsageError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` → CUDA when available, else CPU; anything torch accepts otherwise (`cpu`, `cuda:1`, `mps`)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device: unknown device {name!r} (try auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device


PRECISIONS = ("auto", "fp32", "bf16")


def check_precision(name: str) -> str:
    """`--precision`: auto (bf16 on CUDA and on CPUs with bf16 units), fp32, or bf16."""
    if name not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)} (got {name!r})")
    return name


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16: there bf16 convolutions beat fp32 (a U-Net-256 forward at batch 4 ran 1.8× faster
    in bf16 on the project's AVX512-BF16 VM with torch 2.14). On plain AVX2 they are emulated, and measured
    on an AVX2 VM a U-Net-256 forward ran 8× to 50× slower in bf16 than in fp32."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def uses_bf16(device: torch.device, precision: str = "auto") -> bool:
    if precision == "fp32" or device.type not in ("cuda", "cpu"):
        return False
    return precision == "bf16" or device.type == "cuda" or cpu_has_fast_bf16()


def autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """bf16 autocast where it pays (see `uses_bf16`); fp32 otherwise. Losses, FID features and optimizer
    state stay fp32: autocast only changes the matmuls and convolutions it lists."""
    if uses_bf16(device, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Runtime:
    """How a command runs its networks: the device, `--precision` and `--compile`. Built once from the
    flags and passed to what it runs (a family, a translation run), so a reader sees where each comes from."""

    device: torch.device
    precision: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        check_precision(self.precision)

    @classmethod
    def of(cls, runtime: Runtime | torch.device) -> Runtime:
        """A bare device means the defaults: precision auto, eager."""
        return runtime if isinstance(runtime, Runtime) else cls(runtime)

    @property
    def bf16(self) -> bool:
        return uses_bf16(self.device, self.precision)

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.precision)


def memory_format(device: torch.device) -> torch.memory_format:
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def inference_memory_format(device: torch.device, net: object) -> torch.memory_format:
    """channels_last on CUDA; on the CPU only for networks that declare it pays (`channels_last_on_cpu`)."""
    if device.type == "cuda" or getattr(net, "channels_last_on_cpu", False):
        return torch.channels_last
    return torch.contiguous_format


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    if x.dim() == 4:
        return x.to(device, non_blocking=True, memory_format=memory_format(device))
    return x.to(device, non_blocking=True)
