"""Ordering two type expressions, conservatively, from their text alone.

Only union membership is ordered: `A | B` -> `A` is narrowed, `A` -> `A | None` is widened
(`Optional[X]` and `Union[...]` count as unions). Anything else that differs (`int` -> `str`,
`list[A]` -> `list[B]`, a member replaced) cannot be ordered without a type checker and is
reported as changed.
"""

import ast
from enum import Enum


class Order(Enum):
    SAME = "same"
    NARROWED = "narrowed"
    WIDENED = "widened"
    CHANGED = "changed"


def compare_types(old: str, new: str) -> Order:
    old_members, new_members = _members(old), _members(new)
    if old_members == new_members:
        return Order.SAME
    if new_members < old_members:
        return Order.NARROWED
    if new_members > old_members:
        return Order.WIDENED
    return Order.CHANGED


def _members(text: str) -> frozenset[str]:
    """The union members of a type expression, each normalized by `ast.unparse`."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return frozenset({text})
    found: set[str] = set()
    _collect(tree, found)
    return frozenset(found)


def _collect(node: ast.expr, found: set[str]) -> None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        _collect(node.left, found)
        _collect(node.right, found)
        return
    if isinstance(node, ast.Subscript) and _name(node.value) in {"Optional", "Union"}:
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for item in items:
            _collect(item, found)
        if _name(node.value) == "Optional":
            found.add("None")
        return
    found.add(ast.unparse(node))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""
