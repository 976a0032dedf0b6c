"""Checks that `package.module.Name` exists, by reading source with `ast` (nothing is imported).

A name resolves when the module file defines, assigns or imports it at top level (also inside
top-level `if`/`try` blocks). A module with a star import is trusted for names it does not show.
A name the module binds to another module (`import os`) resolves, and `is_module` says so.
"""

import ast
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path


def is_module(dotted: str) -> bool:
    """True when `dotted` names a module rather than an object defined in one: a module file, or
    a name its parent module binds to a module (`import os`, `from torch import nn`)."""
    if _module_file(dotted) is not None:
        return True
    module, name = dotted.rsplit(".", 1)
    module_file = _module_file(module)
    if module_file is None or _defines_at_top_level(module_file, name):
        return False
    top_level = _top_level(module_file, module)
    source = top_level.imported.get(name)
    return name in top_level.modules or (source is not None and _module_file(source) is not None)


def resolves(dotted: str) -> bool:
    """True when `dotted` names a module or a top-level object of a module that exists."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_file = _module_file(".".join(parts[:split]))
        if module_file is None:
            continue
        rest = parts[split:]
        if len(rest) == 1 and _module_file(dotted) is not None:
            return True  # a submodule
        if len(rest) != 1:
            return False
        if _defines_at_top_level(module_file, rest[0]):
            return True
        module = _top_level(module_file, ".".join(parts[:split]))
        return rest[0] in module.names or module.has_star
    return False


@cache
def _defines_at_top_level(module_file: Path, name: str) -> bool:
    """A `class` or `def` of `name` starting a line: the common case, found without parsing
    (megatron-core's large modules are most of a cold run's parsing otherwise). Cached:
    resolves and is_module ask it for every import, every validation."""
    pattern = re.compile(rf"^(?:class|def|async def) {re.escape(name)}\b", re.MULTILINE)
    return pattern.search(_source_text(module_file)) is not None


@cache
def _source_text(module_file: Path) -> str:
    return module_file.read_text(encoding="utf-8")


@cache
def parsed_source(module_file: Path) -> ast.Module:
    """A source file's syntax tree, parsed once per process (the README's slot inventory reads
    many of the same megatron-core files)."""
    return ast.parse(_source_text(module_file), str(module_file))


@cache
def _module_file(module: str) -> Path | None:
    """The source file of `module`, found without executing any package `__init__`."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)  # a top-level lookup imports nothing
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    if spec.submodule_search_locations is None:
        return None
    for location in spec.submodule_search_locations:
        base = Path(location).joinpath(*rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


@dataclass(frozen=True)
class _TopLevel:
    """What a module binds at top level (also inside top-level `if`/`try` blocks)."""

    names: frozenset[str]
    has_star: bool  # `from x import *`: names it does not show may exist
    modules: frozenset[str]  # the names bound to modules by `import` (`import os`)
    imported: dict[str, str]  # name -> what `from ... import` bound to it (a module or not)


@cache
def _top_level(module_file: Path, module: str) -> _TopLevel:
    package = module if module_file.name == "__init__.py" else module.rpartition(".")[0]
    tree = parsed_source(module_file)
    names: set[str] = set()
    modules: set[str] = set()
    imported: dict[str, str] = {}
    has_star = False
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        match node:
            case (
                ast.ClassDef(name=name)
                | ast.FunctionDef(name=name)
                | ast.AsyncFunctionDef(name=name)
            ):
                names.add(name)
            case ast.Assign(targets=targets):
                names.update(_assigned(targets))
            case ast.AnnAssign(target=target) | ast.AugAssign(target=target):
                names.update(_assigned([target]))
            case ast.Import(names=aliases):
                bound = {alias.asname or alias.name.split(".")[0] for alias in aliases}
                names.update(bound)
                modules.update(bound)
            case ast.ImportFrom(module=source, names=aliases, level=level):
                origin = _import_origin(package, source, level)
                for alias in aliases:
                    if alias.name == "*":
                        has_star = True
                        continue
                    names.add(alias.asname or alias.name)
                    imported[alias.asname or alias.name] = f"{origin}.{alias.name}"
            case ast.If(body=body, orelse=orelse):
                pending.extend(body + orelse)
            case ast.Try(body=body, handlers=handlers, orelse=orelse, finalbody=final):
                pending.extend(body + orelse + final)
                for handler in handlers:
                    pending.extend(handler.body)
            case _:
                pass
    return _TopLevel(frozenset(names), has_star, frozenset(modules), imported)


def _import_origin(package: str, source: str | None, level: int) -> str:
    """The absolute module of `from <level dots><source> import ...` written in `package`."""
    if not level:
        return source or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, source] if source else base)


def _assigned(targets: list[ast.expr]) -> set[str]:
    names: set[str] = set()
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.add(node.id)
    return names
