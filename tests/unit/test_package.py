"""The library as a whole: no module imports invoke, and no two modules import each other."""

from __future__ import annotations

import ast
from pathlib import Path

from ..helpers import ROOT

SRC = ROOT / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The adeline_infra modules `path` imports, at any level (TYPE_CHECKING ones included)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module:
                found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return found


def graph() -> dict[str, set[str]]:
    paths = sorted((SRC / "adeline_infra").rglob("*.py"))
    names = {module_name(p) for p in paths}
    return {module_name(p): (imports(p) & names) - {module_name(p)} for p in paths}


def test_no_module_imports_invoke() -> None:
    for path in (SRC / "adeline_infra").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "invoke" for a in node.names), path
            elif isinstance(node, ast.ImportFrom) and not node.level:
                assert (node.module or "").split(".")[0] != "invoke", path


def test_no_import_cycles() -> None:
    deps = graph()
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        for dep in sorted(deps[node]):
            # a package importing its own submodules is how packages are made, not a cycle
            if dep in stack and not dep.startswith(node + ".") and not node.startswith(dep + "."):
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in stack and len(stack) < 12:
                visit(dep, [*stack, dep])

    for name in deps:
        visit(name, [name])
    assert not cycles, cycles[:3]
