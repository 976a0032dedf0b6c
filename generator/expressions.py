"""Checks the Python expressions a description may contain, with `ast`.

Type expressions allow names, dotted attributes, subscripts, `|`, None, `...` and literals
inside `Literal[...]`; value expressions (defaults, fixed values) allow literals and names with
their attributes; conditions (in spec factories) add not/and/or and comparisons. Nothing is
evaluated: the checked tree is unparsed, so the generated code holds exactly what was checked.
Each check is a pure function of the text, cached: validation and views check the same texts.

Names and attributes are ASCII as written (Python folds look-alikes such as 'Ｍlp' into 'Mlp'
and keeps other non-ASCII letters, which only look like ASCII ones), and none starts with two
underscores (`__import__`, `x.__class__.__base__.__subclasses__`), except `__class__` in
conditions, where upstream compares `backend.__class__ is X`.
"""

import ast
import io
import tokenize
from dataclasses import dataclass
from functools import cache

from generator import identifiers

BUILTIN_TYPES = frozenset(
    {"int", "float", "str", "bool", "bytes", "object", "tuple", "list", "dict", "set", "type"}
)


class ExpressionError(ValueError):
    """The expression is not allowed; the message says what and why."""


@dataclass(frozen=True)
class CheckedExpression:
    """A validated expression: its normalized source and the root names it uses."""

    source: str
    names: frozenset[str]


# Dunder attributes a condition may read (`backend.__class__ is LocalSpecProvider`).
CONDITION_DUNDERS = frozenset({"__class__"})


@cache
def check_type_expression(text: str) -> CheckedExpression:
    """Validates a type expression such as `tuple[Tensor, Tensor | None]`."""
    tree = _parse(text)
    names: set[str] = set()
    _check_type_node(tree.body, names, inside_literal=False)
    _check_underscores(tree, frozenset())
    return CheckedExpression(ast.unparse(tree), frozenset(names))


@cache
def check_value_expression(text: str) -> CheckedExpression:
    """Validates a value expression such as `AttnMaskType.causal`, `None` or `1e-5`."""
    tree = _parse(text)
    names: set[str] = set()
    _check_value_node(tree.body, names)
    _check_underscores(tree, frozenset())
    return CheckedExpression(ast.unparse(tree), frozenset(names))


@cache
def check_condition_expression(
    text: str, predicates: frozenset[str] = frozenset()
) -> CheckedExpression:
    """Validates a condition such as `num_experts is not None and not qk_l2_norm`.

    `predicates` may be called with literal arguments (`te_at_least('1.9.0')`); they count as
    names of the expression.
    """
    tree = _parse(text)
    names: set[str] = set()
    _check_condition_node(tree.body, names, predicates)
    _check_underscores(tree, CONDITION_DUNDERS)
    return CheckedExpression(ast.unparse(tree), frozenset(names))


@cache
def attribute_path(text: str) -> tuple[str, ...]:
    """Validates a dotted path such as `pg_collection.tp` and returns its parts."""
    tree = _parse(text)
    parts: list[str] = []
    node = tree.body
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise ExpressionError(f"{text!r} is not a dotted name such as `pg_collection.tp`")
    parts.append(node.id)
    _check_underscores(tree, frozenset())
    return tuple(reversed(parts))


def _parse(text: str) -> ast.Expression:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"{text!r} is not a Python expression: {error.msg}") from None
    except (UnicodeEncodeError, ValueError):  # a lone surrogate (a JSON "\ud800"), a NUL
        raise ExpressionError(f"{text!r} holds a character Python source cannot") from None
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NAME and not identifiers.ASCII_IDENTIFIER.fullmatch(token.string):
            raise ExpressionError(
                f"{token.string!r} in {text!r} is not an ASCII name (Python reads it as "
                f"{ast.unparse(tree)!r}); write names and attributes in ASCII letters, digits and _"
            )
    return tree


def _check_underscores(tree: ast.Expression, allowed: frozenset[str]) -> None:
    """No name or attribute starts with two underscores, but the `allowed` attributes."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExpressionError(
                f"{node.id!r} is not allowed in an expression: names starting with two "
                "underscores are Python's own"
            )
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            if node.attr not in allowed:
                raise ExpressionError(
                    f"attribute {node.attr!r} is not allowed ({ast.unparse(node)!r}): attributes "
                    "starting with two underscores reach Python's internals"
                    + (f"; only {sorted(allowed)} may be read here" if allowed else "")
                )


def _forbidden(node: ast.AST, what: str) -> ExpressionError:
    return ExpressionError(
        f"{type(node).__name__} is not allowed in a {what} ({ast.unparse(node)!r})"
    )


def _check_type_node(node: ast.expr, names: set[str], *, inside_literal: bool) -> None:
    match node:
        case ast.Name(id=name):
            names.add(name)
        case ast.Attribute():
            names.add(_dotted_root(node, "type expression"))
        case ast.Subscript(value=value, slice=index):
            _check_type_node(value, names, inside_literal=False)
            literal = isinstance(value, ast.Name) and value.id == "Literal"
            _check_type_node(index, names, inside_literal=literal)
        case ast.Tuple(elts=items) | ast.List(elts=items):
            for item in items:
                _check_type_node(item, names, inside_literal=inside_literal)
        case ast.BinOp(left=left, op=ast.BitOr(), right=right):
            _check_type_node(left, names, inside_literal=False)
            _check_type_node(right, names, inside_literal=False)
        case ast.Constant(value=value) if value is None or value is ...:
            pass
        case ast.Constant(value=str() | int() | bool()) if inside_literal:
            pass
        case _:
            raise _forbidden(node, "type expression")


def _check_value_node(node: ast.expr, names: set[str]) -> None:
    match node:
        case ast.Constant(value=None | bool() | int() | float() | str()):
            pass
        case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() | float())):
            pass
        case ast.Name(id=name):
            names.add(name)
        case ast.Attribute():
            names.add(_dotted_root(node, "value expression"))
        case _:
            raise _forbidden(node, "value expression")


_COMPARISONS = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot, ast.In, ast.NotIn)


def _check_condition_node(node: ast.expr, names: set[str], predicates: frozenset[str]) -> None:
    match node:
        case ast.BoolOp(values=values):
            for value in values:
                _check_condition_node(value, names, predicates)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            _check_condition_node(operand, names, predicates)
        case ast.Compare(left=left, ops=ops, comparators=comparators) if all(
            isinstance(op, _COMPARISONS) for op in ops
        ):
            for operand in (left, *comparators):
                _check_condition_node(operand, names, predicates)
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in predicates:
            names.add(name)
            for argument in args:
                if not isinstance(argument, ast.Constant):
                    raise _forbidden(argument, "predicate argument")
        case ast.Tuple(elts=items) | ast.List(elts=items):
            for item in items:
                _check_value_node(item, names)
        case _:
            _check_value_node(node, names)


def _dotted_root(node: ast.Attribute, what: str) -> str:
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        current = current.value
    if not isinstance(current, ast.Name):
        raise _forbidden(node, what)
    return current.id
