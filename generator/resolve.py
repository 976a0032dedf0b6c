"""Checks that `package.module.Name` exists, by reading source with `ast` (nothing is imported).

A name resolves when the module file defines, assigns or imports it at top level (also inside
top-level `if`/`try` blocks), or a module it star-imports does (followed through `.py` files and
`.pyi` stubs, such as torch's for its compiled `torch._C`); a star import of a module without
readable source is trusted for names the importing module does not show. A name the module binds
to another module (`import os`, `from torch import nn`) resolves, and `is_module` says so.
"""

import ast
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from generator.statements import class_through_method, statement_alone


def is_module(dotted: str) -> bool:
    """True when `dotted` names a module rather than an object defined in one: a module file, or
    a name its parent module binds to a module (`import os`, `from torch import nn`)."""
    if _module_file(dotted) is not None:
        return True
    module, name = dotted.rsplit(".", 1)
    module_file = _module_file(module)
    if module_file is None or _defines_at_top_level(module_file, name):
        return False
    top_level = _top_level(module_file)
    if name in top_level.modules:
        return True
    imported = top_level.imported.get(name)
    if imported is None:
        return False
    source, level, original = imported
    package = module if module_file.stem == "__init__" else module.rpartition(".")[0]
    return _module_file(f"{_import_origin(package, source, level)}.{original}") is not None


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
        return _binds(module_file, rest[0], frozenset())
    return False


def _binds(module_file: Path, name: str, seen: frozenset[Path]) -> bool:
    """`module_file` binds `name` at top level, itself or through its star imports."""
    if _defines_at_top_level(module_file, name):
        return True
    top_level = _top_level(module_file)
    if name in top_level.names:
        return True
    for source in top_level.stars:
        if source is None:
            return True  # a star import of a module without readable source: trusted
        if source not in seen and _binds(source, name, seen | {module_file}):
            return True
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
        for candidate in _candidates(base):
            if _is_file(candidate):
                return candidate
    return None


def _is_file(path: Path) -> bool:
    """`path.is_file()`, False also for a name the file system cannot hold (too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _candidates(base: Path) -> tuple[Path, ...]:
    """Where the source of the module at `base` (a path without suffix) may be: a module, a
    package, or the stub of a compiled one."""
    return (
        base.with_suffix(".py"),
        base / "__init__.py",
        base.with_suffix(".pyi"),
        base / "__init__.pyi",
    )


def _star_source(module_file: Path, node: ast.ImportFrom) -> Path | None:
    """The source file a star import reads from (None: not found)."""
    if node.level == 0:
        return _module_file(node.module) if node.module else None
    if not node.module:
        return None  # `from . import *`: the package's own __init__
    base = module_file.parent
    for _ in range(node.level - 1):
        base = base.parent
    base = base.joinpath(*node.module.split("."))
    return next((c for c in _candidates(base) if _is_file(c)), None)


@dataclass(frozen=True)
class _TopLevel:
    """What a module binds at top level (also inside top-level `if`/`try` blocks)."""

    names: frozenset[str]
    stars: tuple[Path | None, ...]  # the files its star imports read (None: no readable source)
    modules: frozenset[str]  # the names bound to modules by `import` (`import os`)
    # name -> (source, level, name) of the `from <level dots><source> import name` that bound it;
    # whether that is a module is looked up only when is_module asks
    imported: dict[str, tuple[str | None, int, str]]


@cache
def _top_level(module_file: Path) -> _TopLevel:
    """What `module_file` binds at top level (in order: a later binding of a name wins)."""
    tree = parsed_source(module_file)
    names: set[str] = set()
    stars: list[Path | None] = []
    modules: set[str] = set()
    imported: dict[str, tuple[str | None, int, str]] = {}
    for node in _module_level(tree.body):
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
            case ast.ImportFrom(names=[ast.alias(name="*")]):
                stars.append(_star_source(module_file, node))
            case ast.ImportFrom(module=source, names=aliases, level=level):
                for alias in aliases:
                    names.add(alias.asname or alias.name)
                    imported[alias.asname or alias.name] = (source, level, alias.name)
            case _:
                pass
    return _TopLevel(frozenset(names), tuple(stars), frozenset(modules), imported)


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


def class_definition(dotted: str) -> tuple[str, ast.ClassDef] | None:
    """The module and the `class` statement of the class `dotted` names, following the imports
    that re-export it (megatron.core.transformer re-exports its classes); None when it is not a
    top-level class of readable source. The statement holds the class's decorators, bases,
    keywords and its first definition of one of CONSTRUCTORS; its body may end there (with
    that method's body cut to `pass`)."""
    for _ in range(8):
        if "." not in dotted:
            return None
        module, name = dotted.rsplit(".", 1)
        module_file = _module_file(module)
        if module_file is None:
            return None
        node = _class_statement(module_file, name)
        if node is not None:
            return module, node
        imported = _top_level(module_file).imported.get(name)
        if imported is None:
            return None
        source, level, original = imported
        package = module if module_file.stem == "__init__" else module.rpartition(".")[0]
        dotted = f"{_import_origin(package, source, level)}.{original}"
    return None


CONSTRUCTORS = ("__new__", "__init__")  # in the order calling a class looks for them


@cache
def _class_statement(module_file: Path, name: str) -> ast.ClassDef | None:
    """The top-level `class name` statement of a module (the first, as _module_level visits).

    In the common case, one `class name` starting a line and none indented, the statement is
    parsed alone, only through its first constructor's signature when that is certain to be all
    a constructor check reads (most of a large class is its methods); anything else reads the
    whole tree."""
    text = _source_text(module_file)
    starts = [m.start() for m in re.finditer(rf"^class {re.escape(name)}\b", text, re.MULTILINE)]
    indented = re.search(rf"^[ \t]+class {re.escape(name)}\b", text, re.MULTILINE)
    if len(starts) == 1 and indented is None:
        alone = class_through_method(text, starts[0], CONSTRUCTORS) or statement_alone(
            text, starts[0]
        )
        if isinstance(alone, ast.ClassDef) and alone.name == name:
            return alone
    for node in _module_level(parsed_source(module_file).body):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    return None


def bound_in(module: str, name: str) -> str | None:
    """The dotted path of what `name` refers to at top level of `module`: a class or function it
    defines, or what it imports under that name (None: neither)."""
    module_file = _module_file(module)
    if module_file is None:
        return None
    top_level = _top_level(module_file)
    imported = top_level.imported.get(name)
    if imported is not None:
        source, level, original = imported
        package = module if module_file.stem == "__init__" else module.rpartition(".")[0]
        return f"{_import_origin(package, source, level)}.{original}"
    return f"{module}.{name}" if name in top_level.names else None


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a module's top level, also inside top-level `if`/`try` blocks."""
    for node in body:
        match node:
            case ast.If(body=inner, orelse=orelse):
                yield from _module_level(inner + orelse)
            case ast.Try(body=inner, handlers=handlers, orelse=orelse, finalbody=final):
                yield from _module_level(inner + orelse + final)
                for handler in handlers:
                    yield from _module_level(handler.body)
            case _:
                yield node
