"""What a parent does with the modules it builds, and what its own signature says, read with `ast`.

Complements :mod:`generator.upstream.source` (where a slot is built and with which arguments):
- :func:`uses`: the methods a parent calls on a built module (`self.<attr>.<method>(...)`, and
  `self.<attr>(...)` as `forward`) and the attributes it reads from it, in every method but
  `__init__`, inherited ones included;
- :func:`forwarded_annotation`: the annotation of an argument the parent forwards as-is (a
  parameter of the enclosing method, or `self.<name>` set from an `__init__` parameter);
- :func:`protocol_call`: the `__call__` of an upstream Builder Protocol.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from generator.upstream.source import ClassRef, base_classes, resolve_class


@dataclass(frozen=True)
class Use:
    """One method call on (or attribute read of) a built module."""

    name: str  # method name (`forward` for `self.x(...)`) or attribute name
    called: bool
    owner: str  # Class.method where the parent does it
    line: int
    positional: tuple[ast.expr, ...] = field(default=(), compare=False)
    keywords: tuple[str, ...] = ()


def _methods(cls: ClassRef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [s for s in cls.node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _is_self_attribute(node: ast.expr, attribute: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attribute
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def uses(parent: ClassRef, attribute: str) -> list[Use]:
    """Every use of `self.<attribute>` outside `__init__` in the parent and its megatron bases."""
    found: list[Use] = []
    for cls in (parent, *base_classes(parent)):
        for method in _methods(cls):
            if method.name == "__init__":
                continue
            owner = f"{cls.name}.{method.name}"
            called: set[int] = set()
            for node in ast.walk(method):
                if not isinstance(node, ast.Call):
                    continue
                keywords = tuple(k.arg for k in node.keywords if k.arg is not None)
                args = tuple(node.args)
                if _is_self_attribute(node.func, attribute):
                    called.add(id(node.func))
                    found.append(Use("forward", True, owner, node.lineno, args, keywords))
                elif isinstance(node.func, ast.Attribute) and _is_self_attribute(
                    node.func.value, attribute
                ):
                    called.add(id(node.func))
                    found.append(Use(node.func.attr, True, owner, node.lineno, args, keywords))
            for node in ast.walk(method):
                if (
                    isinstance(node, ast.Attribute)
                    and id(node) not in called
                    and _is_self_attribute(node.value, attribute)
                    and isinstance(node.ctx, ast.Load)
                ):
                    found.append(Use(node.attr, False, owner, node.lineno))
    return found


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    args = function.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return every + [a for a in (args.vararg, args.kwarg) if a is not None]


def _annotation_of(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> ast.expr | None:
    for arg in _parameters(function):
        if arg.arg == name:
            return arg.annotation
    return None


def _init_parameter(parent: ClassRef, name: str) -> tuple[ast.expr, ClassRef] | None:
    """`name`'s annotation in the nearest `__init__` (parent first, then bases) that takes it."""
    for cls in (parent, *base_classes(parent)):
        for method in _methods(cls):
            if method.name == "__init__":
                annotation = _annotation_of(method, name)
                if annotation is not None:
                    return annotation, cls
    return None


def forwarded_annotation(
    parent: ClassRef,
    method: ast.FunctionDef | ast.AsyncFunctionDef | None,
    value: ast.expr | None,
) -> tuple[ast.expr, ClassRef] | None:
    """The annotation (and the class whose source holds it) of an argument forwarded as-is:
    `name` where `name` is a parameter of the enclosing method (or of a function nested in it),
    or `self.name` where an `__init__` of the parent or a base takes `name`."""
    if value is None:
        return None
    if isinstance(value, ast.Name) and method is not None:
        for function in ast.walk(method):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                annotation = _annotation_of(function, value.id)
                if annotation is not None:
                    owner = _owner_of(parent, method)
                    return annotation, owner
        return None
    if _is_self_attribute(value, getattr(value, "attr", "")):
        assert isinstance(value, ast.Attribute)
        return _init_parameter(parent, value.attr)
    return None


def _owner_of(parent: ClassRef, method: ast.FunctionDef | ast.AsyncFunctionDef) -> ClassRef:
    for cls in (parent, *base_classes(parent)):
        if method in cls.node.body:
            return cls
    return parent


def protocol_call(protocol: ClassRef) -> ast.FunctionDef | None:
    """The `__call__` a Builder Protocol declares, or None."""
    for method in _methods(protocol):
        if method.name == "__call__" and isinstance(method, ast.FunctionDef):
            return method
    return None


def resolve_protocol(module: str, name: str) -> ClassRef | None:
    """An upstream Protocol named in `module`'s source."""
    return resolve_class(module, name)
