"""Batch image translation, and the `cgan translate` service: decode in parallel threads, run the network
in batches, encode in parallel threads, and report each result in input order.

Any input size works: each image is padded (reflection where it fits) to the multiple the network
needs and the output is cropped back, so outputs keep their input's size unless `size` is given.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from cgan_cli.data import jpeg
from cgan_cli.data.inputs import InputImage
from cgan_cli.data.io import image_to_uint8_tensor, normalise, read_image, save_image, uint8_tensor_to_image
from cgan_cli.device import Runtime, inference_memory_format, resolve_device
from cgan_cli.errors import CganError, ImageReadError, UsageError
from cgan_cli.families import TranslateOptions
from cgan_cli.families.base import Translator, open_checkpoint
from cgan_cli.generation import latent
from cgan_cli.parallel import ordered_map


@dataclass
class Result:
    item: InputImage
    output: Path
    error: str | None = None
    skipped: bool = False
    seed: int | None = None  # BicycleGAN's --seeds: the seed of this output's z


@dataclass
class Job:
    item: InputImage
    output: Path
    tensor: torch.Tensor | None = None  # input: uint8 (C, H, W), unpadded; after translated(): float in [-1, 1]
    error: str | None = None


def pad_to_multiple(x: torch.Tensor, multiple: int, min_side: int = 1) -> torch.Tensor:
    """(N, C, H, W) → (N, C, H', W') with H', W' the next multiples, at least `min_side`; reflection where
    possible (callers crop the output back to H×W)."""
    h, w = x.shape[-2:]
    ph, pw = max((-h) % multiple, min_side - h), max((-w) % multiple, min_side - w)
    if not ph and not pw:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def plan_outputs(items: list[InputImage], out_dir: Path, ext: str, leaf: str | None = None) -> list[Job]:
    """One job per input; outputs that would overwrite an input or another output get an error. With `leaf`
    (BicycleGAN's seeds), each input's output is `out_dir/NAME/leaf.ext`, NAME its relative path less suffix."""
    inputs = {item.path.resolve() for item in items}
    seen: dict[Path, InputImage] = {}
    jobs = []
    for item in items:
        rel = item.rel.with_suffix("." + ext) if leaf is None else item.rel.with_suffix("") / f"{leaf}.{ext}"
        output = out_dir / rel
        resolved = output.resolve()
        job = Job(item, output)
        if resolved in inputs:
            job.error = f"{item.path}: output {output} would overwrite an input; choose another --out"
        elif resolved in seen:
            job.error = f"{item.path}: output {output} is also the output of {seen[resolved].path}"
        else:
            seen[resolved] = item
        jobs.append(job)
    return jobs


class TranslationRun:
    def __init__(
        self,
        translator: Translator,
        runtime: Runtime | torch.device,
        *,
        size: tuple[int, int] | None = None,
        aligned: bool = False,
        batch_size: int = 8,
        workers: int = 4,
        gpu_decode: bool = False,
    ) -> None:
        self.runtime = Runtime.of(runtime)  # the device, and --precision for the forward passes
        device = self.runtime.device
        self.t, self.device, self.gpu_decode = translator, device, gpu_decode and device.type == "cuda"
        self.memory_format = inference_memory_format(device, translator.net)
        if isinstance(translator.net, torch.nn.Module):  # weights in the inputs' layout, or every conv converts
            translator.net.to(memory_format=self.memory_format)
        self.size, self.aligned = size, aligned
        self.batch_size, self.workers = batch_size, max(1, workers)

    def _read(self, path: Path) -> torch.Tensor:
        """uint8 (C, H, W): JPEGs through torchvision (nvJPEG straight into GPU memory with gpu_decode),
        anything else through Pillow."""
        if self.t.read_labels is not None:  # label maps: the half is cut before colours are mapped to classes
            return self.t.read_labels(path, self.t.aligned_half if self.aligned else None)
        channels = 3 if self.t.in_channels == 3 else 1
        where = self.device if self.gpu_decode and self.size is None else torch.device("cpu")
        fast = jpeg.read_tensor(path, channels, where)
        if fast is not None:
            return fast
        return image_to_uint8_tensor(read_image(path, channels)).to(where)  # one device per batch

    def _decode(self, job: Job) -> Job:
        if job.error is not None:
            return job
        try:
            t = self._read(job.item.path)
            if self.aligned and self.t.read_labels is None:
                h, w = t.shape[-2:]
                if w < 2:
                    raise ImageReadError(job.item.path, f"{w}×{h} is too narrow to hold A and B side by side")
                half = w // 2  # as split_aligned: an odd last column is dropped
                t = t[..., :half] if self.t.aligned_half == "left" else t[..., half : 2 * half]
            if self.size is not None and (t.shape[-1], t.shape[-2]) != self.size:
                if self.t.read_labels is None:
                    t = image_to_uint8_tensor(uint8_tensor_to_image(t).resize(self.size, Image.Resampling.BICUBIC))
                else:  # class indices (and SPADE's edge map) channel by channel, never blended
                    t = torch.cat([image_to_uint8_tensor(uint8_tensor_to_image(c[None]).resize(
                        self.size, Image.Resampling.NEAREST)) for c in t])  # fmt: skip
            job.tensor = t  # uint8 until its batch runs: a quarter of float32's memory while queued
        except CganError as exc:
            job.error = str(exc)
        return job

    @torch.inference_mode()
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        h, w = batch.shape[-2:]
        x = normalise(batch.to(self.device, non_blocking=True))
        x = pad_to_multiple(x, self.t.multiple, self.t.min_side)
        x = x.contiguous(memory_format=self.memory_format)
        with self.runtime.autocast():
            y = self.t.net(x)
        return y[..., :h, :w].float().cpu()

    def translated(self, jobs: Iterable[Job]) -> Iterator[Job]:
        """Each job back in order, with `.tensor` now the output (C, H, W) in [-1, 1], or `.error` set.
        Consecutive same-size inputs share a forward pass; memory stays bounded for any number of jobs."""
        ahead = self.batch_size + 2 * self.workers  # bounded memory: a batch queued, every thread busy
        ready: collections.deque[Job] = collections.deque()
        batch: list[Job] = []

        def flush() -> None:
            if batch:
                outputs = self._forward(torch.stack([j.tensor for j in batch]))
                for j, y in zip(batch, outputs):
                    j.tensor = y
                ready.extend(batch)
                batch.clear()

        with cf.ThreadPoolExecutor(self.workers) as decoders:
            for job in ordered_map(decoders, self._decode, jobs, ahead):
                if job.tensor is None:
                    flush()  # keep input order: everything before this failure goes first
                    ready.append(job)
                else:
                    if batch and batch[0].tensor.shape != job.tensor.shape:
                        flush()
                    batch.append(job)
                    if len(batch) >= self.batch_size:
                        flush()
                while ready:
                    yield ready.popleft()
            flush()
            yield from ready

    def run(self, jobs: list[Job], skip_existing: bool = False) -> Iterator[Result]:
        """Translate and write: one Result per job, in order, as soon as its output is on disk."""
        for job in jobs:
            if job.error is None and skip_existing and job.output.exists():
                job.error = "skip"
        ahead = self.batch_size + 2 * self.workers  # bounded memory: a batch queued, every thread busy
        with cf.ThreadPoolExecutor(self.workers) as encoders:
            pending: collections.deque[tuple[Job, cf.Future | None]] = collections.deque()
            for job in self.translated(jobs):
                future = None
                if job.tensor is not None:
                    future = encoders.submit(save_image, job.tensor, job.output)
                    job.tensor = None
                pending.append((job, future))
                while pending and (pending[0][1] is None or pending[0][1].done() or len(pending) > ahead):
                    yield self._result(*pending.popleft())
            while pending:
                yield self._result(*pending.popleft())

    @staticmethod
    def _result(job: Job, future: cf.Future | None) -> Result:
        if job.error == "skip":
            return Result(job.item, job.output, skipped=True)
        if future is not None:
            try:
                future.result()
            except (CganError, OSError) as exc:
                return Result(job.item, job.output, error=f"{job.output}: cannot write ({exc})")
        return Result(job.item, job.output, error=job.error)


@dataclass(frozen=True)
class TranslateSettings:
    """How `cgan translate` runs, beside what it asks of the model (`TranslateOptions`)."""

    out_dir: Path
    ext: str = "png"
    size: tuple[int, int] | None = None
    aligned: bool = False
    batch_size: int = 8
    workers: int = 4
    device: str = "auto"
    gpu_decode: bool | None = None  # None: on the GPU when the device is CUDA
    precision: str = "auto"
    seed: int = 0  # for --dropout noise
    skip_existing: bool = False
    targets: tuple[str, ...] = ()  # StarGAN --to; several (or "all") write one subfolder per domain
    seeds: tuple[int, ...] = ()  # BicycleGAN --seeds: one output per seed and input, OUT/NAME/seed000003.png


class Translation:
    """A checkpoint opened for `cgan translate`: its translator(s) built once, then `results(items)`."""

    def __init__(self, checkpoint: Path, options: TranslateOptions, settings: TranslateSettings) -> None:
        cls, ckpt = open_checkpoint(checkpoint)
        self.runtime = Runtime(resolve_device(settings.device), settings.precision)
        dev = self.runtime.device
        if settings.gpu_decode and dev.type != "cuda":
            raise UsageError(f"--gpu-decode needs a CUDA --device (the device is {dev})")
        targets: list[str | None] = list(dict.fromkeys(settings.targets or [None]))
        if "all" in targets:
            targets = list(cls.targets(ckpt)) or [None]
        out = settings.out_dir  # one --to writes into --out; several (or all) one subfolder per domain
        self.runs: list[tuple[Translator, Path, int | None]] = []
        for t in targets:
            translator = cls.translator(ckpt, dev, replace(options, target=t))
            self.runs += latent_runs(translator, out / t if len(targets) > 1 else out, options, settings, cls.name)
        self.settings = settings
        torch.manual_seed(settings.seed)

    def results(self, items: list[InputImage]) -> Iterator[Result]:
        s = self.settings
        gpu_decode = self.runtime.device.type == "cuda" if s.gpu_decode is None else s.gpu_decode
        for translator, folder, seed in self.runs:
            run = TranslationRun(translator, self.runtime, size=s.size, aligned=s.aligned, batch_size=s.batch_size,
                                 workers=s.workers, gpu_decode=gpu_decode)  # fmt: skip
            leaf = None if seed is None else f"seed{seed:06d}"
            for result in run.run(plan_outputs(items, folder, s.ext, leaf), s.skip_existing):
                yield replace(result, seed=seed)


def latent_runs(translator: Translator, folder: Path, options: TranslateOptions, settings: TranslateSettings,
                family: str) -> list[tuple[Translator, Path, int | None]]:  # fmt: skip
    """The (translator, folder, seed) runs of one translator: itself for a translator without a latent;
    for BicycleGAN's (and SPADE's VAE), one per `--seeds` seed (z = `latent(seed)`, files named seed000003), or
    one at `--seed`'s z, or the `--style` image's encoding that the family already fixed."""
    if not translator.z_dim:
        for flag, given in (("--seeds", settings.seeds), ("--style", options.style is not None)):
            if given:
                raise UsageError(f"{flag}: this {family} checkpoint takes no latent z (bicyclegan and spade "
                                 "--use-vae do)")
        return [(translator, folder, None)]
    if options.style is not None:
        if settings.seeds:
            raise UsageError("--seeds and --style: z comes from the seeds or from the style image, not both")
        return [(translator, folder, None)]
    if not settings.seeds:
        return [(translator.at(latent(settings.seed, translator.z_dim)), folder, None)]
    return [(translator.at(latent(s, translator.z_dim)), folder, s) for s in dict.fromkeys(settings.seeds)]
