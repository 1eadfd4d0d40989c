"""The source of a function as a chapter shows it: the method, with its argument checks left out.

:func:`method_source` keeps a function's signature, the first paragraph of its docstring and
every statement that does the work; it drops the argument checks at the top level of the
body and puts one comment line where they were. A statement counts as a check when it is

- a call to a function whose name starts with ``check`` or ``_check``, bare or assigned to
  names that the rest of the body does not use (``ivs = _check_interventions(...)`` stays
  when ``ivs`` is used later),
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


def _names_read(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _names_written(stmt: ast.stmt) -> set[str]:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _checks(body: list[ast.stmt]) -> list[bool]:
    """Which statements of ``body`` to leave out: checks whose results the kept statements never read."""
    drop, read_later = [False] * len(body), set()
    for i in range(len(body) - 1, -1, -1):
        stmt = body[i]
        if is_check(stmt) and not (_names_written(stmt) & read_later):
            drop[i] = True
        else:
            read_later |= _names_read(stmt)
    return drop


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
    dropped, previous_end = False, None
    for stmt, leave_out in zip(body, _checks(body)):
        start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])]) - 1
        if leave_out:
            if not dropped:
                keep.append(indent + CHECKS_NOTE)
            dropped = True
        else:
            if previous_end is not None and not dropped:
                keep.extend(lines[previous_end:start])  # blank lines and comments between statements
            keep.extend(lines[start:stmt.end_lineno])
            dropped = False
        previous_end = stmt.end_lineno
    return "\n".join(keep) + "\n"
