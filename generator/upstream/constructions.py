"""Modules a parent's `__init__` constructs itself, bypassing its spec (lifted-slot candidates).

Read with `ast` from megatron-core's source, like :mod:`generator.upstream.source`; only
`torch.nn` is imported, to tell its module classes (`nn.SiLU`) from the rest (`nn.Parameter`).
A callee counts as a module when it is
- a `torch.nn` class deriving from `torch.nn.Module` (`nn.ModuleList`, `nn.SiLU`);
- a class under megatron/core one of whose bases, transitively, is such a class, or a class
  imported from a third-party package (megatron's optional dependencies, e.g. mamba-ssm's
  RMSNorm, which megatron replaces with a MagicMock when the package is missing);
- a known module factory (:data:`MODULE_FACTORIES`): a class whose `__new__` returns a module.
"""

from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass

from generator.upstream.source import ClassRef, module_path, parse, resolve_class, resolve_dotted

# Classes that build a module without being an nn.Module subclass themselves (factories).
MODULE_FACTORIES = frozenset({"TENorm"})  # __new__ returns TE's LayerNorm or RMSNorm


@dataclass(frozen=True)
class Construction:
    """`self.<attribute> = <callee>(...)` (attribute None when the result is not kept so)."""

    line: int
    callee: str  # as written: `TENorm`, `nn.ModuleList`
    attribute: str | None


def dotted_name(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def init_of(cls: ClassRef) -> ast.FunctionDef | None:
    """The class's own `__init__`, or None."""
    for stmt in cls.node.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            return stmt
    return None


@functools.cache
def _torch_module_class(name: str) -> bool:
    import torch.nn  # only here: the rest of the package reads source without importing it

    value: object = getattr(torch.nn, name, None)
    return isinstance(value, type) and issubclass(value, torch.nn.Module)


def _external_origin(module: str, name: str) -> str | None:
    """The package `name` is imported from in `module` when that is not megatron (or None)."""
    path = module_path(module)
    if path is None:
        return None
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name and not node.module.startswith("megatron"):
                    return node.module
    return None


def _is_torch_nn(dotted: str) -> bool:
    head, *rest = dotted.split(".")
    if head == "nn" and len(rest) == 1:
        return _torch_module_class(rest[0])
    if head == "torch" and len(rest) == 2 and rest[0] == "nn":
        return _torch_module_class(rest[1])
    return False


@functools.cache
def _is_module_class(cls: ClassRef) -> bool:
    for base in cls.node.bases:
        dotted = dotted_name(base)
        if dotted is None:
            continue
        if _is_torch_nn(dotted):
            return True
        if "." in dotted:
            continue
        found = resolve_class(cls.module, dotted)
        if found is not None:
            if _is_module_class(found):
                return True
            continue
        origin = _external_origin(cls.module, dotted)
        if origin == "torch.nn":
            if _torch_module_class(dotted):
                return True
        elif origin is not None and origin.split(".")[0] not in sys.stdlib_module_names:
            return True  # a third-party base (megatron's optional dependencies)
    return False


def _local_imports(init: ast.FunctionDef) -> dict[str, tuple[str, str]]:
    """Names imported inside `__init__`: local name -> (module, name)."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(init):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    return found


def _kept_as(init: ast.FunctionDef, line: int) -> str | None:
    for node in ast.walk(init):
        if isinstance(node, ast.Assign) and node.lineno <= line <= (node.end_lineno or line):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and dotted_name(target.value) == "self":
                    return target.attr
    return None


def direct_constructions(dotted_class: str) -> list[Construction]:
    """Every call in the class's own `__init__` whose callee is a module class or a module
    factory, resolved in the class's module (plus imports made inside `__init__`)."""
    cls = resolve_dotted(dotted_class)
    if cls is None:
        raise LookupError(f"{dotted_class} is not a class under megatron/core")
    init = init_of(cls)
    if init is None:
        return []
    local = _local_imports(init)
    found: list[Construction] = []
    for node in ast.walk(init):
        if not isinstance(node, ast.Call):
            continue
        name = dotted_name(node.func)
        if name is None:
            continue
        if name.split(".")[-1] in MODULE_FACTORIES or _is_torch_nn(name):
            is_module = True
        elif "." in name:
            is_module = False
        else:
            module, original = local.get(name, (cls.module, name))
            callee = resolve_class(module, original)
            is_module = callee is not None and _is_module_class(callee)
        if is_module:
            found.append(Construction(node.lineno, name, _kept_as(init, node.lineno)))
    found.sort(key=lambda c: c.line)
    return found
