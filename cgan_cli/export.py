"""`cgan export`: a checkpoint's generator as ONNX, TorchScript, or an inference-only `.safetensors` file.

Each family says what its generator graph is (`Family.export_graph`: named inputs, which axes may vary,
what each holds); this module writes it in one of three formats. Every file is checked before it is put
in place: it is read back, run on random inputs (two batch sizes, and two image sizes for fully
convolutional generators) and compared with the PyTorch generator; a difference above `TOLERANCE` is a
one-line error and no file. ONNX needs the optional `onnx` extra (onnx, onnxruntime, onnxscript).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import json
import logging
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cgan_cli import __version__
from cgan_cli.checkpoint import Checkpoint, group_of, load_checkpoint, save_checkpoint
from cgan_cli.config.inference import MAX_OPSET, MIN_OPSET, OPSET
from cgan_cli.data.atomic import atomic_path
from cgan_cli.errors import CganError, UsageError
from cgan_cli.families import ExportOptions
from cgan_cli.families.base import Family, open_checkpoint
from cgan_cli.families.graph import Axis, ExportGraph, GraphInput
from cgan_cli.weights import ARCHIVE_DIGEST, GRAPH_DIGEST, archive_digest, export_digest, onnx_graph_digest

TOLERANCE = {torch.float32: 1e-3, torch.float16: 1e-1}  # max |Δ| on [-1, 1] images vs the fp32 PyTorch generator
ONNX_EXTRA = "pip install 'cgan-cli[onnx]'"


@dataclass
class ExportResult:
    path: Path
    format: str
    family: str
    weights: str  # which generator, e.g. "G_ema"
    dtype: str
    bytes: int
    max_error: float  # the largest |Δ| seen against PyTorch
    checks: int  # random batches compared


def export_checkpoint(
    source: Path,
    fmt: str,
    out: Path,
    options: ExportOptions = ExportOptions(),
    fp16: bool = False,
    opset: int = OPSET,
) -> ExportResult:
    """Write `source`'s generator to `out` in `fmt` and check it against PyTorch; see the module docstring."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name")
    if out.exists() and source.exists() and out.resolve() == source.resolve():
        raise UsageError(f"--out {out} is the checkpoint itself; give another file")
    if fmt == "onnx" and not MIN_OPSET <= opset <= MAX_OPSET:
        raise UsageError(f"--opset must be {MIN_OPSET} to {MAX_OPSET} (got {opset})")
    cls, ckpt = open_checkpoint(source)
    for choice, given in (("direction", options.direction is not None), ("image_stats", options.image_stats)):
        if given and choice not in cls.export_choices:
            flag = "--" + choice.replace("_", "-")
            raise UsageError(f"{flag} does not apply to a {cls.name} checkpoint")
    if fmt == "safetensors":
        if options.direction is not None or options.image_stats:
            raise UsageError("--direction and --image-stats choose an ONNX/TorchScript graph; a safetensors "
                             "export keeps every generator, and translate takes those options at run time")  # fmt: skip
        return _export_weights(cls, ckpt, out, options, fp16)
    onnx_modules = _onnx_modules() if fmt == "onnx" else None
    graph = cls.export_graph(ckpt, options)
    graph.module.eval().requires_grad_(False)  # a traced graph keeps requires_grad: outputs would carry it
    dtype = torch.float16 if fp16 else torch.float32
    module = copy.deepcopy(graph.module).to(dtype) if fp16 else graph.module
    examples = tuple(draw(i, {}, dtype, torch.Generator().manual_seed(0)) for i in graph.inputs)
    metadata = describe(graph, ckpt, fmt, dtype)
    if fmt == "onnx":
        metadata["cgan.opset"] = str(opset)
    with atomic_path(out) as tmp:
        if fmt == "onnx":
            _write_onnx(module, graph, examples, tmp, metadata, opset, onnx_modules)
            run = _onnx_runner(tmp, graph, onnx_modules)
        else:
            _write_torchscript(module, examples, tmp, metadata)
            run = _torchscript_runner(tmp)
        error, checks = compare(graph, run, dtype, f"{fmt} export of {source}")
    return ExportResult(out, fmt, cls.name, graph.weights, str(dtype).removeprefix("torch."), out.stat().st_size,
                        error, checks)  # fmt: skip


# --- what goes into the files ---------------------------------------------------------------------------


def shape_names(shape: Sequence[int | Axis]) -> list[int | str]:
    return [d.name if isinstance(d, Axis) else d for d in shape]


def describe(graph: ExportGraph, ckpt: Checkpoint, fmt: str, dtype: torch.dtype) -> dict[str, str]:
    """The file's metadata: enough to feed the graph correctly and to know which model it is."""
    floating = str(dtype).removeprefix("torch.")
    kinds = {"index": "int64", "mask": "bool"}
    inputs = [
        {"name": i.name, "shape": shape_names(i.shape), "dtype": kinds.get(i.kind, floating), "meaning": i.meaning}
        for i in graph.inputs
    ]
    meta = {
        "cgan.format": fmt,
        "cgan.family": ckpt.family,
        "cgan.config": json.dumps(ckpt.config, sort_keys=True),
        "cgan.step": str(ckpt.step),
        "cgan.weights": graph.weights,
        "cgan.dtype": floating,
        "cgan.inputs": json.dumps(inputs),
        "cgan.output": json.dumps({"name": "output", "dtype": floating, "meaning": graph.output}),
        "cgan.version": __version__,
        "cgan.torch_version": torch.__version__,
    }
    meta.update({f"cgan.{k}": json.dumps(v, sort_keys=True) for k, v in graph.notes.items()})
    return meta


# --- random inputs and the check ---------------------------------------------------------------------------


def draw(spec: GraphInput, sizes: dict[str, int], dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    """A random input of the kind `spec` describes; `sizes` overrides the example size of named axes."""
    shape = [sizes.get(d.name, d.size) if isinstance(d, Axis) else d for d in spec.shape]
    if spec.kind == "image":
        return (torch.rand(shape, generator=gen) * 2 - 1).to(dtype)
    if spec.kind == "normal":
        return torch.randn(shape, generator=gen).to(dtype)
    if spec.kind == "uniform":  # InfoGAN's continuous codes: U(-1, 1)
        return (torch.rand(shape, generator=gen) * 2 - 1).to(dtype)
    if spec.kind == "index":
        return torch.randint(spec.high, shape, generator=gen)
    if spec.kind == "binary":
        return torch.randint(2, shape, generator=gen).to(dtype)
    if spec.kind == "mask":  # (N, L): True for a random-length prefix of ≥ 2 tokens (start and end)
        lengths = torch.randint(2, shape[1] + 1, (shape[0], 1), generator=gen)
        return torch.arange(shape[1])[None, :] < lengths
    if spec.kind == "scalar":
        return (0.5 + 0.5 * torch.rand(shape, generator=gen)).to(dtype)
    raise ValueError(f"unknown input kind {spec.kind!r}")


def check_sizes(graph: ExportGraph) -> list[dict[str, int]]:
    """The example's sizes, then batch 1 with the image one step taller where sides may vary."""
    axes = {d.name: d for i in graph.inputs for d in i.shape if isinstance(d, Axis)}
    second = {"batch": 1}
    if "height" in axes:
        second["height"] = axes["height"].size + axes["height"].multiple
    return [{}, second]


def compare(graph: ExportGraph, run: Callable[..., torch.Tensor], dtype: torch.dtype, what: str) -> tuple[float, int]:
    """Largest |Δ| between `run` and the fp32 PyTorch graph over random inputs; an error above tolerance."""
    worst = 0.0
    sizes = check_sizes(graph)
    for n, override in enumerate(sizes):
        gen = torch.Generator().manual_seed(1000 + n)
        inputs = [draw(i, override, torch.float32, gen) for i in graph.inputs]
        with torch.no_grad():
            expected = graph.module(*inputs).float()
        try:
            got = run(*[x.to(dtype) if x.is_floating_point() else x for x in inputs]).float()
        except Exception as exc:  # a kernel the runtime lacks, a shape it cannot take
            raise _failed(what, exc) from None
        if got.shape != expected.shape:
            raise CganError(f"{what}: output shape {tuple(got.shape)} differs from PyTorch's {tuple(expected.shape)}")
        diff = (got - expected).abs().max().item() if got.numel() else 0.0
        if not diff <= TOLERANCE[dtype]:  # NaN fails too
            raise CganError(f"{what}: output differs from PyTorch's by {diff:.3g} (tolerance {TOLERANCE[dtype]:g})")
        worst = max(worst, diff)
    return worst, len(sizes)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Exporters print progress on stdout (ours carries data), warn about their own deprecations and log
    tracebacks they then recover from; failures reach us as exceptions."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "torch.export", "torch._export")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _failed(kind: str, exc: BaseException) -> CganError:
    """One line from an exporter's many: the innermost cause's first line, without terminal colours."""
    if isinstance(exc, CganError):
        return exc
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return CganError(f"{kind} failed: {type(exc).__name__}: {first[:300]}")


# --- ONNX ---------------------------------------------------------------------------------------------------


def _onnx_modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401 — torch.onnx's exporter needs it
    except ImportError as exc:
        raise CganError(f"ONNX export needs the onnx extra ({exc.name} is missing): {ONNX_EXTRA}") from None
    return onnx, onnxruntime


def _dynamic_shapes(graph: ExportGraph) -> tuple[Any, ...]:
    """torch.export dims, one per axis name and shared by every input; multiples as derived dims. A forward
    with `*inputs` (InfoGAN's, a named input per code) takes the dims of those inputs as one tuple."""
    from torch.export import Dim

    roots: dict[str, Any] = {}

    def dim(axis: Axis) -> Any:
        if axis.name not in roots:
            roots[axis.name] = Dim(axis.name, min=axis.least)
        return roots[axis.name] * axis.multiple if axis.multiple > 1 else roots[axis.name]

    shapes = tuple({k: dim(d) for k, d in enumerate(i.shape) if isinstance(d, Axis)} for i in graph.inputs)
    params = inspect.signature(graph.module.forward).parameters.values()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        named = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        return (*shapes[:named], shapes[named:])
    return shapes


def _write_onnx(module: torch.nn.Module, graph: ExportGraph, examples: tuple[torch.Tensor, ...], path: Path,
                metadata: dict[str, str], opset: int, modules: Any) -> None:  # fmt: skip
    onnx = modules[0]
    try:
        with quiet():
            torch.onnx.export(
                module,
                examples,
                str(path),
                input_names=[i.name for i in graph.inputs],
                output_names=["output"],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=_dynamic_shapes(graph),
                external_data=False,
                verbose=False,
            )
        model = onnx.load(str(path))
    except Exception as exc:
        raise _failed("ONNX export", exc) from None
    got = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if got != opset:
        raise CganError(f"ONNX export failed: the exporter wrote opset {got}, not --opset {opset}")
    for node in _nodes(model):
        del node.metadata_props[:]  # the exporter's stack traces: this machine's source paths, most of the bytes
    _name_axes(model, graph)
    model.producer_name, model.producer_version = "cgan", __version__
    model.doc_string = f"cgan {metadata['cgan.family']} generator ({metadata['cgan.weights']}); see metadata_props"
    del model.metadata_props[:]
    metadata = {**metadata, GRAPH_DIGEST: export_digest(onnx_graph_digest(model), metadata, GRAPH_DIGEST)}
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise _failed("ONNX export", exc) from None
    onnx.save(model, str(path))


def _nodes(model: Any) -> Iterator[Any]:
    yield from model.graph.node
    for function in model.functions:
        yield from function.node


def _name_axes(model: Any, graph: ExportGraph) -> None:
    """torch.export names a multiple-of-256 side "256*height"; inputs and outputs say "height"."""
    names = {f"{d.multiple}*{d.name}": d.name for i in graph.inputs for d in i.shape if isinstance(d, Axis)}
    for value in [*model.graph.input, *model.graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in names:
                dim.dim_param = names[dim.dim_param]


def _onnx_runner(path: Path, graph: ExportGraph, modules: Any) -> Callable[..., torch.Tensor]:
    ort = modules[1]
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # an operator ONNX Runtime lacks: the file would be of no use
        raise _failed("ONNX Runtime", exc) from None
    names = [i.name for i in graph.inputs]

    def run(*inputs: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0])

    return run


# --- TorchScript ----------------------------------------------------------------------------------------------


def _write_torchscript(module: torch.nn.Module, examples: tuple[torch.Tensor, ...], path: Path,
                       metadata: dict[str, str]) -> None:  # fmt: skip
    """Traced: control flow in our generators depends on config, not on data. The metadata travels as
    `cgan.json` (read with `torch.jit.load(f, _extra_files={"cgan.json": ""})`), with the digest of the
    archive's program and tensors, taken from a first save (`archive_digest` leaves out what saves vary)."""
    try:
        with quiet(), torch.no_grad():
            traced = torch.jit.trace(module, examples, check_trace=False)
            first = io.BytesIO()
            torch.jit.save(traced, first)
            with zipfile.ZipFile(first) as archive:
                program = archive_digest(archive)
            metadata = {**metadata, ARCHIVE_DIGEST: export_digest(program, metadata, ARCHIVE_DIGEST)}
            torch.jit.save(traced, str(path), _extra_files={"cgan.json": json.dumps(metadata, sort_keys=True)})
    except Exception as exc:
        raise _failed("TorchScript export", exc) from None


def _torchscript_runner(path: Path) -> Callable[..., torch.Tensor]:
    with quiet():
        loaded = torch.jit.load(str(path), map_location="cpu")

    def run(*inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), quiet():
            return loaded(*inputs)

    return run


# --- inference-only safetensors ------------------------------------------------------------------------------


def _export_weights(cls: type[Family], ckpt: Checkpoint, out: Path, options: ExportOptions,
                    fp16: bool) -> ExportResult:  # fmt: skip
    """The generator weights inference reads (EMA unless --no-ema), nothing for training: a checkpoint
    every inference command opens like the full one. The CLIP text tower keeps its dtype (its hash is
    how text2img recognises it)."""
    groups = cls.export_groups(ckpt, options)
    dtype = torch.float16 if fp16 else torch.float32

    def cast(key: str, t: torch.Tensor) -> torch.Tensor:
        return t.to(dtype) if t.is_floating_point() and not key.startswith("clip/") else t

    tensors = {k: cast(k, v) for k, v in ckpt.tensors.items() if group_of(k) in groups}
    state = {"export": {"groups": list(groups), "dtype": str(dtype).removeprefix("torch."), "source_step": ckpt.step}}
    if ckpt.state.get("progress"):  # a growing model (ProGAN) is exported at its current stage: say which
        state["progress"] = ckpt.state["progress"]
    exported = Checkpoint(None, ckpt.family, ckpt.config, ckpt.step, ckpt.epoch, tensors, state)
    reference = cls.export_graph(ckpt, options)
    with atomic_path(out) as tmp:
        save_checkpoint(tmp, exported)
        written = load_checkpoint(tmp, groups)
        written.path = out
        candidate = cls.export_graph(written, options)

        def run(*inputs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return candidate.module(*[x.float() if x.is_floating_point() else x for x in inputs])

        error, checks = compare(reference, run, dtype, f"safetensors export of {ckpt.path}")
    return ExportResult(out, "safetensors", cls.name, reference.weights, state["export"]["dtype"],
                        out.stat().st_size, error, checks)  # fmt: skip
