"""`cgan info`: what a checkpoint or export file is, read from its metadata and tensor table alone.

This module owns describing one file as a JSON-able record (`describe`) and rendering that record as aligned
`key: value` text (`render`). It never builds a network and never runs code from the file: a `.safetensors`
checkpoint is read and verified by `cgan_cli.checkpoint` (metadata checksum, per-group SHA-256s), a TorchScript
export's `cgan.json` is read out of its zip archive without loading the program, and an ONNX export's
`metadata_props` through the optional `onnx` package without running the graph. What a family's options and
defaults are is the family's `Config` (`cgan_cli.families.FAMILIES`); what exports hold is `cgan_cli.export`'s.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from math import prod
from pathlib import Path
from typing import Any, TextIO

from cgan_cli.checkpoint import group_of, load_checkpoint, read_metadata
from cgan_cli.config import to_dict
from cgan_cli.errors import CganError, CheckpointError
from cgan_cli.export import ONNX_EXTRA
from cgan_cli.families import FAMILIES
from cgan_cli.weights import ARCHIVE_DIGEST, GRAPH_DIGEST, archive_digest, export_digest, first_line, onnx_graph_digest

TORCHSCRIPT_SUFFIXES = (".pt", ".ts", ".torchscript")
MAX_JSON = 64 << 20  # a cgan.json is a few kB; a bigger member is not ours, and is not read into memory
MAKES = {"translations": "translations (cgan translate)", "samples": "samples (cgan sample)",
         "text": "images from text (cgan text2img)"}  # fmt: skip


def read_paths(args: Iterable[str], stdin: TextIO | None = None) -> list[str]:
    """The command-line paths, with `-` replaced by the newline-separated paths on stdin (read once)."""
    paths: list[str] = []
    for arg in args:
        if arg != "-":
            paths.append(arg)
            continue
        lines = (stdin or sys.stdin).read().splitlines()
        paths += [p for p in (line.strip() for line in lines) if p and p != "-"]
    return paths


def describe_all(paths: Iterable[str]) -> Iterator[tuple[dict[str, Any], None] | tuple[None, str]]:
    """(record, None) for each file that can be described, (None, one-line message) for one that cannot:
    a bad file is reported and the rest are still described."""
    for path in paths:
        try:
            yield describe(path), None
        except CganError as exc:
            yield None, str(exc)
        except OSError as exc:  # unreadable (permissions, a vanished file): about this file, not the run
            yield None, f"{path}: {exc.strerror or exc}"


def describe(path: str | Path) -> dict[str, Any]:
    """Everything `cgan info` reports about one file, JSON-able; a CheckpointError for a foreign or damaged one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: an empty file, not a cgan checkpoint or export")
    with open(path, "rb") as f:
        head = f.read(4)
    suffix = path.suffix.lower()
    if head == b"PK\x03\x04" or suffix in TORCHSCRIPT_SUFFIXES:
        return _describe_export(path, "torchscript", *_torchscript_metadata(path))
    if suffix == ".onnx":
        return _describe_export(path, "onnx", *_onnx_metadata(path))
    return _describe_checkpoint(path)


# --- the three kinds of file ---------------------------------------------------------------------------------


def _describe_checkpoint(path: Path) -> dict[str, Any]:
    meta = read_metadata(path)
    ckpt = load_checkpoint(path, None, meta)  # every tensor: reading them is how their digests are checked
    groups: dict[str, dict[str, Any]] = {}
    dtypes: dict[str, set[str]] = {}
    for key, tensor in sorted(ckpt.tensors.items()):
        group = group_of(key)
        stats = groups.setdefault(group, {"tensors": 0, "elements": 0, "bytes": 0})
        stats["tensors"] += 1
        stats["elements"] += tensor.numel()
        stats["bytes"] += tensor.numel() * tensor.element_size()
        dtypes.setdefault(group, set()).add(str(tensor.dtype).removeprefix("torch."))
    for group, stats in groups.items():
        stats["dtypes"] = sorted(dtypes[group])
    parameters = {g.removeprefix("net/"): s["elements"] for g, s in groups.items() if g.startswith("net/")}
    exported = ckpt.state.get("export")
    record = _common(path, "safetensors", ckpt.family, ckpt.config)
    record.update(
        kind="inference-only export" if exported else "training checkpoint",
        training=not exported,
        verified=True,
        step=ckpt.step,
        epoch=ckpt.epoch,
        progress=ckpt.state.get("progress") or None,
        parameters=parameters,
        tensor_groups=groups,
        export=exported or None,
        versions={k: meta.get(f"{k}_version") for k in ("cgan", "torch", "python")},
        format_version=int(meta["format_version"]),
    )
    return record


def _describe_export(path: Path, fmt: str, meta: dict[str, str], weights: dict[str, int]) -> dict[str, Any]:
    """An ONNX or TorchScript export: cgan's metadata, read back as export.describe wrote it, and the size of
    the weights the file holds."""
    if meta.get("cgan.format") != fmt or "cgan.family" not in meta:
        name = {"onnx": "ONNX", "torchscript": "TorchScript"}[fmt]
        raise CheckpointError(f"{path}: a{'n' if fmt == 'onnx' else ''} {name} file, but not a cgan export "
                              "(no cgan metadata)")  # fmt: skip
    try:
        config = json.loads(meta.get("cgan.config", "{}"))
        step = int(meta["cgan.step"])
        plain = ("cgan.format", "cgan.family", "cgan.config", "cgan.step", "cgan.version", "cgan.torch_version")
        export = {k.removeprefix("cgan."): _json_or_text(v) for k, v in meta.items() if k not in plain}
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: damaged cgan metadata ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: damaged cgan metadata (the config is not an object)")
    export.update(weights)
    record = _common(path, fmt, meta["cgan.family"], config)
    record.update(
        kind=f"{'ONNX' if fmt == 'onnx' else 'TorchScript'} export",
        training=False,
        verified=ARCHIVE_DIGEST in meta or GRAPH_DIGEST in meta,  # checked on reading; older exports have none
        step=step,
        epoch=None,
        parameters={},
        tensor_groups={},
        export=export,
        versions={"cgan": meta.get("cgan.version"), "torch": meta.get("cgan.torch_version"), "python": None},
        format_version=None,
    )
    if record["text_encoder"] is None and isinstance(export.get("text_encoder"), dict):
        record["text_encoder"] = export["text_encoder"]
    if isinstance(export.get("stage"), dict):  # a growing model's graph, at the stage it was exported
        record["progress"] = export["stage"]
    return record


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _torchscript_metadata(path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """`extra/cgan.json` straight from the archive: torch.jit.load would run the file's code."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            name = next((n for n in members if re.fullmatch(r"[^/]+/extra/cgan\.json", n)), None)
            if name is None:
                raise CheckpointError(f"{path}: a zip archive, but not a cgan TorchScript export (no cgan.json)")
            if members[name].file_size > MAX_JSON:
                raise CheckpointError(f"{path}: damaged cgan metadata (cgan.json is {members[name].file_size} bytes)")
            meta = json.loads(archive.read(name))
            storages = [i for n, i in members.items() if re.fullmatch(r"[^/]+/data/\d+", n)]
            program = archive_digest(archive) if isinstance(meta, dict) and ARCHIVE_DIGEST in meta else None
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, UnicodeDecodeError) as exc:
        what = "damaged cgan metadata" if isinstance(exc, ValueError) else "not a TorchScript archive"
        raise CheckpointError(f"{path}: {what} ({first_line(exc)})") from None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{path}: damaged cgan metadata (cgan.json is not an object of strings)")
    _check_digest(path, meta, ARCHIVE_DIGEST, program)
    return meta, {"tensors": len(storages), "tensor_bytes": sum(i.file_size for i in storages)}


def _check_digest(path: Path, meta: dict[str, str], key: str, program: str | None) -> None:
    """An export that records its digest (over its program and metadata) must still match it; an older export
    records none and is reported unverified."""
    if key in meta and (program is None or meta[key] != export_digest(program, meta, key)):
        raise CheckpointError(f"{path}: checksum mismatch in the export: the file was modified or damaged")


def _onnx_metadata(path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """`metadata_props` of the model, and its initializers' count and size; the graph is never run."""
    try:
        import onnx
    except ImportError:
        raise CganError(f"{path}: reading an ONNX file needs the onnx extra: {ONNX_EXTRA}") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises its own decode errors for anything that is not a model
        raise CheckpointError(f"{path}: not a readable ONNX file ({first_line(exc)})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    _check_digest(path, meta, GRAPH_DIGEST, onnx_graph_digest(model) if GRAPH_DIGEST in meta else None)
    elements = nbytes = 0
    for tensor in model.graph.initializer:
        count = prod(tensor.dims)
        elements += count
        try:
            nbytes += count * onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        except (KeyError, TypeError, ValueError):  # a type numpy has no width for (strings): not counted
            pass
    return meta, {"tensors": len(model.graph.initializer), "elements": elements, "tensor_bytes": nbytes}


# --- what every kind shares: the family, its config against the defaults, sizes and labels ----------------


def _common(path: Path, fmt: str, family: str, config: dict[str, Any]) -> dict[str, Any]:
    cls = FAMILIES.get(family)
    defaults = json.loads(json.dumps(to_dict(cls.Config()))) if cls is not None else {}
    changed = sorted(k for k, v in config.items() if k not in defaults or defaults[k] != v)
    ordered = {k: config[k] for k in changed} | {k: config[k] for k in sorted(config) if k not in changed}
    makes = getattr(cls, "makes", None)
    return {
        "path": str(path),
        "format": fmt,
        "bytes": path.stat().st_size,
        "family": family,
        "known_family": cls is not None,
        "summary": getattr(cls, "summary", None),
        "makes": makes,
        "config": ordered,
        "changed": changed,
        "defaults": {k: defaults[k] for k in changed if k in defaults},
        **_image(config, makes),
        "labels": _labels(config),
        "text_encoder": config.get("text_encoder") if isinstance(config.get("text_encoder"), dict) else None,
    }


def _image(config: dict[str, Any], makes: str | None) -> dict[str, Any]:
    """Image side and channels as the config records them: translation families train on `crop_size` crops
    and may read other channels than they write; text families always make RGB (their config has no field)."""
    size = config.get("image_size", config.get("crop_size"))
    channels = config.get("channels", config.get("output_nc"))
    if channels is None and makes == "text":
        channels = 3
    return {"image_size": size, "channels": channels, "input_channels": config.get("input_nc", channels)}


def _labels(config: dict[str, Any]) -> dict[str, Any] | None:
    if config.get("class_names"):
        return {"kind": "classes", "names": list(config["class_names"])}
    if config.get("domain_names"):
        return {"kind": "attributes" if config.get("multi_label") else "domains", "names": list(config["domain_names"])}
    return None


# --- text --------------------------------------------------------------------------------------------------


def render(record: dict[str, Any]) -> str:
    """The record as aligned `key: value` lines, one block for one file (no colour: it goes to stdout)."""
    rows = _rows(record)
    width = max(len(key) for key, _ in rows) + 2
    return "\n".join(f"{key + ':':<{width}}{value}".rstrip() for key, value in rows)


def _rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    kind = r["kind"]
    if r["format"] == "safetensors":
        kind += f" (safetensors, cgan format {r['format_version']})"
    elif r["export"].get("opset"):
        kind += f" (opset {r['export']['opset']})"
    rows = [("file", r["path"]), ("kind", kind), ("bytes", f"{r['bytes']:,}")]
    groups = len(r["tensor_groups"])
    if r["format"] == "safetensors":
        verified = f"metadata and {_count(groups, 'tensor-group SHA-256 digest')}"
    else:
        verified = "the program's SHA-256 digest" if r["verified"] else "no (an export that records no checksum)"
    rows.append(("verified", verified))
    rows.append(("family", r["family"] if r["known_family"] else f"{r['family']} (not a family this cgan knows)"))
    if r["summary"]:
        rows.append(("summary", r["summary"]))
    if r["makes"]:
        rows.append(("makes", MAKES.get(r["makes"], r["makes"])))
    rows.append(("step", str(r["step"])))
    if r["epoch"] is not None:
        rows.append(("epoch", str(r["epoch"])))
    if r.get("progress"):
        rows.append(("progress", ", ".join(f"{k} {v}" for k, v in r["progress"].items())))
    rows += _shape_rows(r)
    rows += _export_rows(r)
    for net, count in r["parameters"].items():
        rows.append((f"parameters {net}", f"{count:,}"))
    for group, s in r["tensor_groups"].items():
        dtypes = ", ".join(s["dtypes"])
        value = f"{_count(s['tensors'], 'tensor')}, {s['elements']:,} elements, {s['bytes']:,} bytes, {dtypes}"
        rows.append((f"tensors {group}", value))
    versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items() if v)
    rows.append(("versions", versions or "not recorded"))
    rows += _config_rows(r)
    return rows


def _shape_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    if r["image_size"]:
        now = (r.get("progress") or {}).get("resolution", r["image_size"])
        growing = f" (growing to {r['image_size']}x{r['image_size']})" if now != r["image_size"] else ""
        rows.append(("image size", f"{now}x{now}{growing}"))
    if r["channels"]:
        inputs = r["input_channels"]
        both = f" (input {inputs})" if inputs and inputs != r["channels"] else ""
        rows.append(("channels", f"{r['channels']}{both}"))
    if r["labels"]:
        rows.append((r["labels"]["kind"], ", ".join(map(str, r["labels"]["names"]))))
    encoder = r["text_encoder"]
    if encoder:
        source = encoder.get("weights") or (f"pretrained {encoder['pretrained']}" if encoder.get("pretrained")
                                            else f"random weights, seed {encoder.get('seed')}")  # fmt: skip
        embedded = " (embedded)" if "clip/text" in r["tensor_groups"] else ""
        rows.append(("text encoder", f"{encoder.get('model')}, {source}{embedded}"))
        rows.append(("text encoder sha256", str(encoder.get("sha256"))))
    return rows


def _export_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    e = r["export"]
    if not e:
        return []
    if r["format"] == "safetensors":
        return [("export", f"generator weights only ({e.get('dtype')}), from step {e.get('source_step')}"),
                ("export groups", ", ".join(e.get("groups", [])))]  # fmt: skip
    size = f", {e['elements']:,} elements" if "elements" in e else ""
    rows = [("weights", f"{e.get('weights')} ({e.get('dtype')}), {_count(e.get('tensors', 0), 'tensor')}{size}, "
                        f"{e.get('tensor_bytes', 0):,} bytes")]  # fmt: skip
    for spec in e.get("inputs") or []:
        if isinstance(spec, dict):
            shape = ", ".join(map(str, spec.get("shape", [])))
            rows.append((f"input {spec.get('name')}", f"({shape}) {spec.get('dtype')}: {spec.get('meaning')}"))
    output = e.get("output")
    if isinstance(output, dict):
        rows.append(("output", f"{output.get('dtype')}: {output.get('meaning')}"))
    return rows


def _config_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    changed = set(r["changed"])
    if not r["known_family"]:
        return [("config", "no defaults to compare with")] + [(f"  {k}", _value(v)) for k, v in r["config"].items()]
    rows = [("config", f"{len(changed)} of {len(r['config'])} options differ from {r['family']}'s defaults "
                       "(those first)")]  # fmt: skip
    for key, value in r["config"].items():
        note = ""
        if key in changed:
            note = f"  (default {_value(r['defaults'][key])})" if key in r["defaults"] else "  (not an option here)"
        rows.append((f"  {key}", _value(value) + note))
    return rows


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
