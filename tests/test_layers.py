"""The folders are layers: no module imports a later layer, and no module-level import cycle.

0  the core and what every stage shares: cogstar (the Rust names), errors, io, config,
   layout, tasks, llm
1  behaviors   (priming sets, rule and LLM counting)
2  train       (models, tiny, sft, ppo, grpo, evaluate)
3  pretrain    (curated continued pretraining, which trains with train.sft)
4  study       (spec, sweep, plan, stages, runner, run directory, progress, report)
5  cli
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import cogstar

PACKAGE = Path(cogstar.__file__).parent
LAYERS = {"behaviors": 1, "integrations": 1, "train": 2, "pretrain": 3, "study": 4, "cli": 5}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def _imports(path: Path, top_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cogstar")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cogstar"):
            found.add(node.module)
            # `from cogstar.study import rundir` names a module too
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def test_no_module_imports_a_later_layer() -> None:
    wrong = []
    for name, path in MODULES.items():
        if name == "cogstar":  # the package's face re-exports from every layer below the study
            continue
        for imported in _imports(path, top_only=False):
            if imported in MODULES and _layer(imported) > _layer(name):
                wrong.append(f"{name} (layer {_layer(name)}) imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_at_module_level() -> None:
    graph = {
        name: {m for m in _imports(path, top_only=True) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }
    # importing a submodule runs its package's __init__ first (but for the root package, whose
    # __init__ is the public face: it imports the core and the behavior counters, which
    # import nothing of the stages)
    for name in list(graph):
        for imported in list(graph[name]):
            graph[name] |= {
                p for p in _parents(imported) if p in MODULES and p not in (name, "cogstar")
            }
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # a package importing its own submodules at the top is how a package re-exports
    real = [c for c in cycles if not _only_package_reexports(c)]
    assert not real, "\n".join(real)


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _only_package_reexports(cycle: str) -> bool:
    nodes = cycle.split(" -> ")
    return all(b.startswith(a + ".") or a.startswith(b + ".") for a, b in itertools.pairwise(nodes))


def test_the_schema_imports_no_trainer_and_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import cogstar.study.spec, cogstar.study.plan, cogstar.study.stages; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'trl')]"
        "; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_module_is_over_600_lines() -> None:
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert not {n: k for n, k in long.items() if k > 620}, long
