"""`cgan eval` as a service: `evaluate(real, fake, metrics, options) -> Report`, for the CLI and for Python callers.

- options.py: EvalOptions and the choices it is checked against (torch-free, for the CLI's option declarations);
- table.py: the metric table, one row per metric (what it needs, how it is computed, what it records and yields);
- sides.py: where the two image sets come from (folders, --save-stats files, checkpoints' images);
- service.py: `evaluate` and its `Report`.

The names below are imported on first use, so that importing this package (or options.py) pulls in no torch.
Parsing and printing are cgan_cli/cli/eval.py's; the metrics' mathematics and weights are cgan_cli/metrics'.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EvalOptions": "options",
    "DIMS": "options",
    "LPIPS_NETS": "options",
    "METRICS": "table",
    "ORDER": "table",
    "PAIRED": "table",
    "Metric": "table",
    "select": "table",
    "Side": "sides",
    "checkpoint_makes": "sides",
    "features_of": "sides",
    "folder_side": "sides",
    "open_side": "sides",
    "open_sides": "sides",
    "require_features": "sides",
    "sampled_side": "sides",
    "text_side": "sides",
    "translated_side": "sides",
    "with_captions": "sides",
    "Report": "service",
    "evaluate": "service",
    "paired_means": "service",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
