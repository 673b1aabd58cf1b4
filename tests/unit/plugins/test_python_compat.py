"""Every plugin file imports on Python 3.9, the oldest Python this collection promises (README).

Modules run on the managed host, whose Python may be older than the controller's 3.11, and
the collection may be installed on a 3.9 controller: syntax newer than 3.9 or a PEP 604 union
(``X | None``) in an annotation evaluated at import time fails there with a TypeError. Python
3.9 itself is not installed here, so the check is static: the parser in 3.9 mode, and unions in
annotations allowed only under ``from __future__ import annotations`` (which keeps every
annotation a string).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN_FILES = sorted(p.relative_to(ROOT) for p in (ROOT / "plugins").rglob("*.py"))


def _annotations(tree: ast.AST) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            found += [a.annotation for a in every if a is not None and a.annotation is not None]
            if node.returns is not None:
                found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return found


def _has_union(expr: ast.expr) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(expr))


def _future_annotations(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
               and any(a.name == "annotations" for a in n.names) for n in tree.body)


def runtime_unions(source: str) -> list[int]:
    """Line numbers of PEP 604 unions in annotations that Python evaluates at import time."""
    tree = ast.parse(source, feature_version=(3, 9))
    if _future_annotations(tree):
        return []
    return sorted(a.lineno for a in _annotations(tree) if _has_union(a))


def test_the_check_finds_a_runtime_union() -> None:
    bad = "def f(x: dict | None) -> int | None:\n    return None\n"
    assert runtime_unions(bad) == [1, 1]
    assert runtime_unions("from __future__ import annotations\n" + bad) == []
    assert runtime_unions("y: int | None = None\n") == [1]


def test_the_check_rejects_syntax_newer_than_3_9() -> None:
    with pytest.raises(SyntaxError):
        runtime_unions("match x:\n    case 1:\n        pass\n")


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=str)
def test_plugin_imports_on_python_3_9(path: Path) -> None:
    source = (ROOT / path).read_text()
    assert runtime_unions(source) == [], (
        f"{path}: PEP 604 unions evaluated at import; add `from __future__ import annotations`")
