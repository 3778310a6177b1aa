"""The house is layered: cli → services → families/metrics → text → checkpoint → data → nn/config/device.
Every import in cgan_cli (at module level or inside a function) points down or sideways, never up."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cgan_cli"
SERVICES = ("trainer", "training", "translation", "sampling", "interpolation", "generation", "prompts",
            "evaluation", "export", "inspection", "distributed", "watch")  # fmt: skip
LAYERS = {  # first component of the module path below cgan_cli → its floor, 0 the lowest
    **dict.fromkeys(("__init__", "errors", "console", "config", "nn", "device", "parallel"), 0),
    **dict.fromkeys(("data", "cache"), 1),
    **dict.fromkeys(("weights", "checkpoint"), 2),
    "text": 3,
    **dict.fromkeys(("families", "metrics"), 4),
    **dict.fromkeys(SERVICES, 5),
    **dict.fromkeys(("cli", "docs", "__main__"), 6),
}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1].removesuffix(".py") if len(parts) > 1 else "__init__"]


def module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `cgan_cli` import, skipping `if TYPE_CHECKING:` blocks (annotations only)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cgan_cli"):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("cgan_cli")]
    return found


def test_every_module_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer(module_of(path))  # a KeyError names a new top-level module that needs its place above


def test_no_import_points_up():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_of(path)
        for line, target in imports(path):
            if layer(target) > layer(here):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert upward == []


def test_the_probe_sees_an_upward_import(tmp_path):
    """The check can fail: a config module importing a family is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from cgan_cli.families.pix2pix import Pix2Pix\n")
    assert [layer(m) for _, m in imports(bad)] == [4] and layer("cgan_cli.config.pix2pix") == 0
