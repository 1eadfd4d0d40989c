"""The source of a function as a chapter shows it: the method, with its argument checks left out.

:func:`method_source` keeps a function's signature, the first paragraph of its docstring and
every statement that does the work; it drops the argument checks at the top level of the
body and puts one comment line where they were. A statement counts as a check when it is

- a call (bare, or assigned) to a function whose name starts with ``check`` or ``_check``,
- an ``if`` whose body only raises or checks (and that has no ``else``),
- ``assert`` or ``raise``.

Presentation only: nothing of the science imports this module.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

CHECKS_NOTE = "# ... (argument checks left out)"


def _calls_a_check(node: ast.AST | None) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name.startswith(("check", "_check"))


def is_check(stmt: ast.stmt) -> bool:
    """True when ``stmt`` only validates arguments (see the module's docstring)."""
    if isinstance(stmt, (ast.Assert, ast.Raise)):
        return True
    if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign)):
        return _calls_a_check(stmt.value)
    if isinstance(stmt, ast.If):
        return not stmt.orelse and all(is_check(s) for s in stmt.body)
    return False


def method_source(obj: Any) -> str:
    """The source of ``obj`` (a function or method) without its argument checks and with a short docstring."""
    source = textwrap.dedent(inspect.getsource(obj))
    tree = ast.parse(source)
    func = tree.body[0]
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError(f"method_source needs a function or method, got {type(obj).__name__}")
    lines = source.splitlines()
    body = func.body
    keep: list[str] = lines[:body[0].lineno - 1]  # decorators and signature
    indent = " " * body[0].col_offset
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        summary = inspect.cleandoc(body[0].value.value).split("\n\n")[0].replace("\n", " ")
        keep.append(f'{indent}"""{summary}"""')
        body = body[1:]
    dropped = False
    for stmt in body:
        if is_check(stmt):
            if not dropped:
                keep.append(indent + CHECKS_NOTE)
            dropped = True
            continue
        keep.extend(lines[stmt.lineno - 1:stmt.end_lineno])
        dropped = False
    return "\n".join(keep) + "\n"
