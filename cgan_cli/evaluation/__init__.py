"""`cgan eval` as a service: `evaluate(real, fake, metrics, options) -> Report`, for the CLI and for Python callers.

- options.py: EvalOptions and the choices it is checked against (torch-free, for the CLI's option declarations);
- table.py: the metric table, one row per metric (what it needs, how it is computed, what it records and yields);
- sides.py: where the two image sets come from (folders, --save-stats files, checkpoints' images);
- service.py: `evaluate` and its `Report`.

This package's own module imports nothing, so the CLI can import options.py and table.py without torch.
Parsing and printing are cgan_cli/cli/eval.py's; the metrics' mathematics and weights are cgan_cli/metrics'.
"""
