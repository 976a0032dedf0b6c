"""Checks that `package.module.Name` exists, by reading source with `ast` (nothing is imported).

A name resolves when the module file defines, assigns or imports it at top level (also inside
top-level `if`/`try` blocks). A module with a star import is trusted for names it does not show.
"""

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path


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
        names, has_star = _top_level_names(module_file)
        return rest[0] in names or has_star
    return False


def _defines_at_top_level(module_file: Path, name: str) -> bool:
    """A `class` or `def` of `name` starting a line: the common case, found without parsing
    (megatron-core's large modules are most of a cold run's parsing otherwise)."""
    pattern = re.compile(rf"^(?:class|def|async def) {re.escape(name)}\b", re.MULTILINE)
    return pattern.search(_source_text(module_file)) is not None


@cache
def _source_text(module_file: Path) -> str:
    return module_file.read_text(encoding="utf-8")


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


@cache
def parsed_source(module_file: Path) -> ast.Module:
    """A source file's syntax tree, parsed once per process (the README's slot inventory reads
    many of the same megatron-core files)."""
    return ast.parse(_source_text(module_file), str(module_file))


@cache
def _top_level_names(module_file: Path) -> tuple[frozenset[str], bool]:
    tree = parsed_source(module_file)
    names: set[str] = set()
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
            case ast.Import(names=aliases) | ast.ImportFrom(names=aliases):
                for alias in aliases:
                    if alias.name == "*":
                        has_star = True
                    else:
                        names.add(alias.asname or alias.name.split(".")[0])
            case ast.If(body=body, orelse=orelse):
                pending.extend(body + orelse)
            case ast.Try(body=body, handlers=handlers, orelse=orelse, finalbody=final):
                pending.extend(body + orelse + final)
                for handler in handlers:
                    pending.extend(handler.body)
            case _:
                pass
    return frozenset(names), has_star


def _assigned(targets: list[ast.expr]) -> set[str]:
    names: set[str] = set()
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.add(node.id)
    return names
