"""What megatron-core's own source says about its submodule slots, read with `ast` only.

Nothing here imports megatron: the package is located with `importlib.util.find_spec` and its
files are parsed. Used by tests/test_descriptions_match_source.py to check the slot descriptions
(schemas/megatron_core/*.json) against the source; `python -m generator.upstream.source` prints the
call-site table of every upstream slot.

Vocabulary:
- a *slot* is an annotated field of a dataclass named `*Submodules` under megatron/core (the
  `sharded_state_dict_keys_map` fields are bookkeeping, not slots);
- a *call site* is where a parent class builds a slot: `submodules.<slot>(...)` (construction
  "call") or `build_module(submodules.<slot>, ...)` (construction "build_module"), also through
  local aliases (`x = submodules.slot or Default; x(...)`), `not_none(...)`, nested helper
  functions that receive the value, mappings computed from `submodules` and indexed by the slot
  name (MLA's `layer_classes["q_layernorm"]`), and, for list slots, the elements of the list.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Construction = Literal["call", "build_module"]

_CONDITIONAL_STATEMENTS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.Match)
_BOOKKEEPING_FIELDS = frozenset({"sharded_state_dict_keys_map"})


_ROOT: list[Path] = []  # set by `reading(root)`: the megatron/core directory read instead


def find_core_dir(root: Path) -> Path | None:
    """`root` itself when it is a megatron/core directory, else `root/megatron/core` (an unpacked
    wheel or a source checkout); None when neither holds megatron-core's source."""
    for candidate in (root, root / "megatron" / "core"):
        if candidate.name == "core" and (candidate / "__init__.py").is_file():
            if (candidate / "transformer").is_dir():
                return candidate.resolve()
    return None


def _clear_caches() -> None:
    for cached in (
        core_dir,
        module_path,
        parse,
        resolve_class,
        resolve_function,
        upstream_slots,
        _sources,
        find_sites,
        _index,
    ):
        cached.cache_clear()


@contextlib.contextmanager
def reading(root: Path | None) -> Generator[Path]:
    """Within the block every function here reads the megatron/core source tree `root` (a
    megatron/core directory or one that holds megatron/core, such as an unpacked wheel) instead
    of the installed package; None keeps the installed one. Yields the megatron/core directory."""
    if root is None:
        yield core_dir()
        return
    found = find_core_dir(root)
    if found is None:
        raise FileNotFoundError(f"{root}: no megatron/core source tree there")
    _ROOT.append(found)
    _clear_caches()
    try:
        yield found
    finally:
        _ROOT.pop()
        _clear_caches()


@functools.cache
def core_dir() -> Path:
    """megatron/core's directory, found without importing it (or the tree `reading` selects)."""
    if _ROOT:
        return _ROOT[-1]
    spec = importlib.util.find_spec("megatron.core")
    assert spec is not None and spec.submodule_search_locations, "megatron-core is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def relative(path: Path) -> str:
    """A path as megatron/core/... for messages."""
    return "megatron/core/" + path.relative_to(core_dir()).as_posix()


@functools.cache
def module_path(module: str) -> Path | None:
    """The file of a dotted module under megatron.core, or None."""
    if module != "megatron.core" and not module.startswith("megatron.core."):
        return None
    parts = module.split(".")[2:]
    base = core_dir().joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def parse(path: Path) -> ast.Module:
    """The parsed file (cached)."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_name(path: Path) -> str:
    """The dotted module name of a file under megatron/core."""
    rel = path.relative_to(core_dir()).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["megatron", "core", *parts])


@dataclass(frozen=True)
class ClassRef:
    """A class defined in megatron/core."""

    module: str
    node: ast.ClassDef
    path: Path

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.node.name}"


def module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a module body, with those nested in module-level `if`/`try` blocks
    (transformer_engine.py defines its classes under `if HAVE_TE and is_te_min_version(...)`)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from module_level(stmt.body)
            yield from module_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse):
                yield from module_level(block)


def _top_level_classes(module: str) -> dict[str, ast.ClassDef]:
    """The module's classes; one defined at the top wins over a same-named one in a block."""
    path = module_path(module)
    if path is None:
        return {}
    found: dict[str, ast.ClassDef] = {}
    for node in module_level(parse(path).body):
        if isinstance(node, ast.ClassDef):
            if node.name not in found or node in parse(path).body:
                found[node.name] = node
    return found


def _imported(module: str, name: str) -> tuple[str, str] | None:
    """Where `name` comes from when `module` imports it (`from X import name [as alias]`)."""
    path = module_path(module)
    if path is None:
        return None
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(parse(path)):
        if not isinstance(node, ast.ImportFrom):
            continue
        for alias in node.names:
            if (alias.asname or alias.name) != name:
                continue
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            return source, alias.name
    return None


@functools.cache
def resolve_class(module: str, name: str) -> ClassRef | None:
    """The class `name` as seen from `module` (defined there or imported from megatron.core)."""
    for _ in range(8):  # follow re-exports
        path = module_path(module)
        if path is None:
            return None
        classes = _top_level_classes(module)
        if name in classes:
            return ClassRef(module, classes[name], path)
        origin = _imported(module, name)
        if origin is None:
            return None
        module, name = origin
    return None


@functools.cache
def resolve_function(module: str, name: str) -> tuple[Path, ast.FunctionDef] | None:
    """The top-level function `name` as seen from `module` (defined there or imported)."""
    for _ in range(8):  # follow re-exports
        path = module_path(module)
        if path is None:
            return None
        for node in module_level(parse(path).body):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return path, node
        origin = _imported(module, name)
        if origin is None:
            return None
        module, name = origin
    return None


def resolve_dotted(dotted: str) -> ClassRef | None:
    """A class from its fully qualified name (`megatron.core.x.Y`)."""
    module, _, name = dotted.rpartition(".")
    return resolve_class(module, name)


def base_classes(cls: ClassRef) -> list[ClassRef]:
    """The class's bases defined in megatron/core, transitively (nearest first, no duplicates)."""
    seen: dict[str, ClassRef] = {}
    queue = [cls]
    while queue:
        current = queue.pop(0)
        for base in current.node.bases:
            if isinstance(base, ast.Name):
                found = resolve_class(current.module, base.id)
                if found is not None and found.qualname not in seen:
                    seen[found.qualname] = found
                    queue.append(found)
    return list(seen.values())


def _is_protocol_class(cls: ClassRef) -> bool:
    for base in cls.node.bases:
        name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
        if name == "Protocol":
            return True
    return False


def _names_in(annotation: ast.expr) -> Iterator[str]:
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                yield from _names_in(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                pass


# --- inventory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamSlot:
    """One annotated field of a `*Submodules` dataclass."""

    dataclass: ClassRef
    name: str
    annotation: ast.expr
    default: ast.expr | None
    line: int

    @property
    def key(self) -> str:
        """`module.Dataclass.slot`, unique across megatron/core."""
        return f"{self.dataclass.qualname}.{self.name}"

    @property
    def short(self) -> str:
        return f"{self.dataclass.name}.{self.name}"

    @property
    def annotation_text(self) -> str:
        return ast.unparse(self.annotation)

    @property
    def default_text(self) -> str | None:
        return None if self.default is None else ast.unparse(self.default)

    @property
    def builder_protocols(self) -> list[str]:
        """The Protocol classes (defined in megatron/core) the annotation names."""
        found: list[str] = []
        for name in _names_in(self.annotation):
            cls = resolve_class(self.dataclass.module, name)
            if cls is not None and _is_protocol_class(cls) and name not in found:
                found.append(name)
        return found

    @property
    def is_list(self) -> bool:
        """The annotation is a list (`List[...]`, `list[...]`, possibly inside Optional)."""
        return any(
            isinstance(n, ast.Subscript) and _last_name(n.value) in {"List", "list", "Sequence"}
            for n in ast.walk(self.annotation)
        )


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


@functools.cache
def upstream_slots() -> tuple[UpstreamSlot, ...]:
    """Every slot of every `*Submodules` class under megatron/core that has fields."""
    pattern = re.compile(r"^\s*class \w*Submodules\b", re.MULTILINE)
    slots: list[UpstreamSlot] = []
    for path, text in _sources():
        if not pattern.search(text):
            continue
        module = module_name(path)
        for node in ast.walk(parse(path)):
            if not (isinstance(node, ast.ClassDef) and node.name.endswith("Submodules")):
                continue
            cls = ClassRef(module, node, path)
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    if stmt.target.id in _BOOKKEEPING_FIELDS:
                        continue
                    slots.append(
                        UpstreamSlot(cls, stmt.target.id, stmt.annotation, stmt.value, stmt.lineno)
                    )
    return tuple(slots)


# --- call sites ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassedArgument:
    """One argument a call site passes: positional (`keyword` None) or by keyword."""

    keyword: str | None
    value: ast.expr | None = field(compare=False)  # None: a `**kwargs` key with no literal value
    conditional: bool = False  # a `**kwargs` key set under a condition


@dataclass(frozen=True)
class CallSite:
    """One place where a parent builds a slot."""

    path: Path
    line: int
    owner: str  # Class.method
    construction: Construction
    positional: int
    keywords: frozenset[str]
    conditional_keywords: frozenset[str]  # keys of a `**kwargs` dict filled under a condition
    unresolved: tuple[str, ...] = ()  # `*args` / `**kwargs` the analysis could not expand
    arguments: tuple[PassedArgument, ...] = ()  # in call order, `**kwargs` keys expanded
    attribute: str | None = None  # `self.<attribute> = <the call>`, when the result is kept so
    method: ast.FunctionDef | ast.AsyncFunctionDef | None = field(default=None, compare=False)

    @property
    def where(self) -> str:
        return f"{relative(self.path)}:{self.line} ({self.owner})"


@dataclass(frozen=True)
class SiteSummary:
    """What all call sites of one slot pass, together."""

    sites: tuple[CallSite, ...]
    construction: Construction | None  # build_module if any site uses it (a spec works for both)
    constructions: frozenset[Construction]
    positional: int  # the most positional arguments any site passes
    conditional_positional: int  # positional arguments not passed by every site
    keywords: frozenset[str]
    conditional_keywords: frozenset[str]
    unresolved: tuple[str, ...] = field(default=())


def summarize(sites: tuple[CallSite, ...]) -> SiteSummary:
    """Merge the call sites of one slot: an argument some site omits is passed conditionally."""
    if not sites:
        return SiteSummary((), None, frozenset(), 0, 0, frozenset(), frozenset())
    constructions: frozenset[Construction] = frozenset(s.construction for s in sites)
    construction: Construction = "build_module" if "build_module" in constructions else "call"
    every: frozenset[str] = sites[0].keywords
    union: frozenset[str] = frozenset()
    conditional: frozenset[str] = frozenset()
    for site in sites:
        every &= site.keywords
        union |= site.keywords
        conditional |= site.conditional_keywords
    conditional |= union - every
    counts = [s.positional for s in sites]
    unresolved = tuple(f"{s.where}: {u}" for s in sites for u in s.unresolved)
    return SiteSummary(
        sites,
        construction,
        constructions,
        max(counts),
        max(counts) - min(counts),
        union,
        conditional,
        unresolved,
    )


def _is_submodules_object(node: ast.expr, names: set[str]) -> bool:
    """`submodules` (a name bound to the dataclass) or `self.submodules`."""
    if isinstance(node, ast.Name):
        return node.id in names
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "submodules"
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


@dataclass(frozen=True)
class _MethodIndex:
    """A method's nodes, each node's parent, and the identifiers and strings it mentions."""

    nodes: tuple[ast.AST, ...]
    parents: dict[ast.AST, ast.AST]
    mentions: frozenset[str]


@functools.cache
def _index(func: ast.FunctionDef | ast.AsyncFunctionDef) -> _MethodIndex:
    nodes = tuple(ast.walk(func))
    parents: dict[ast.AST, ast.AST] = {}
    mentions: set[str] = set()
    for node in nodes:
        for child in ast.iter_child_nodes(node):
            parents[child] = node
        if isinstance(node, ast.Attribute):
            mentions.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            mentions.add(node.value)
    return _MethodIndex(nodes, parents, frozenset(mentions))


class _MethodAnalysis:
    """Finds the call sites of one slot inside one method (nested functions included).

    The method is treated as one namespace: a name that holds the slot anywhere in it is an
    alias everywhere in it (methods in megatron's parents do not reuse such names).
    """

    def __init__(
        self,
        func: ast.FunctionDef | ast.AsyncFunctionDef,
        slot: str,
        is_list: bool,
        reader: bool = False,
    ):
        self.func = func
        self.reader = reader  # a class that reads the slot from a spec's submodules (SLOT_READERS)
        self.slot = slot
        self.is_list = is_list
        index = _index(func)
        self.nodes = index.nodes
        self.parents = index.parents
        self.submodules_names = {"submodules"}
        self.tables: set[str] = set()  # names of mappings computed from submodules
        self.aliases: set[str] = set()  # names holding the slot's value
        self.elements: set[str] = set()  # names holding an element of a list slot
        self.nested = {
            n.name: n
            for n in self.nodes
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n is not func
        }
        self._propagate()

    # -- references --
    def is_submodules(self, node: ast.expr) -> bool:
        """`submodules`, `self.submodules` or, in a reader, `<spec>.submodules`."""
        if self.reader and isinstance(node, ast.Attribute) and node.attr == "submodules":
            return True
        return _is_submodules_object(node, self.submodules_names)

    def is_slot(self, node: ast.expr) -> bool:
        """An expression that evaluates to the slot's value (or, via `or`, possibly to it)."""
        if isinstance(node, ast.Name):
            return node.id in self.aliases
        if isinstance(node, ast.Attribute):
            return node.attr == self.slot and self.is_submodules(node.value)
        if isinstance(node, ast.Subscript):
            key = node.slice
            return (
                isinstance(node.value, ast.Name)
                and node.value.id in self.tables
                and isinstance(key, ast.Constant)
                and key.value == self.slot
            )
        if isinstance(node, ast.Call):  # not_none(x) returns x
            return (
                _last_name(node.func) == "not_none"
                and len(node.args) == 1
                and self.is_slot(node.args[0])
            )
        if isinstance(node, ast.BoolOp):
            return any(self.is_slot(v) for v in node.values)
        if isinstance(node, ast.IfExp):
            return self.is_slot(node.body) or self.is_slot(node.orelse)
        return False

    def is_element(self, node: ast.expr) -> bool:
        """An expression that evaluates to one element of a list slot."""
        if isinstance(node, ast.Name):
            return node.id in self.elements
        if isinstance(node, ast.Subscript):
            return self.is_slot(node.value)
        return False

    def is_buildable(self, node: ast.expr) -> bool:
        return self.is_element(node) if self.is_list else self.is_slot(node)

    # -- propagation to a fixpoint --
    def _bind(self, target: ast.expr, value: ast.expr) -> bool:
        if not isinstance(target, ast.Name):
            return False
        name = target.id
        if self.is_submodules(value) and name not in self.submodules_names:
            self.submodules_names.add(name)
            return True
        if self.is_slot(value) and name not in self.aliases:
            self.aliases.add(name)
            return True
        if self.is_list and self.is_element(value) and name not in self.elements:
            self.elements.add(name)
            return True
        if (
            isinstance(value, ast.Call)
            and name not in self.tables
            and any(
                _is_submodules_object(n, self.submodules_names)
                for n in ast.walk(value)
                if isinstance(n, ast.expr)
            )
        ):
            self.tables.add(name)
            return True
        return False

    def _bind_iteration(self, target: ast.expr, iterable: ast.expr) -> bool:
        if not self.is_list:
            return False
        if self.is_slot(iterable) and isinstance(target, ast.Name):
            if target.id not in self.elements:
                self.elements.add(target.id)
                return True
        if (
            isinstance(iterable, ast.Call)
            and _last_name(iterable.func) == "enumerate"
            and iterable.args
            and self.is_slot(iterable.args[0])
            and isinstance(target, ast.Tuple)
            and len(target.elts) == 2
            and isinstance(target.elts[1], ast.Name)
            and target.elts[1].id not in self.elements
        ):
            self.elements.add(target.elts[1].id)
            return True
        return False

    def _bind_nested_call(self, call: ast.Call) -> bool:
        if not isinstance(call.func, ast.Name) or call.func.id not in self.nested:
            return False
        nested = self.nested[call.func.id]
        params = [a.arg for a in nested.args.posonlyargs + nested.args.args]
        changed = False
        bound: list[tuple[str, ast.expr]] = list(zip(params, call.args))
        bound += [(k.arg, k.value) for k in call.keywords if k.arg is not None]
        for param, value in bound:
            changed |= self._bind(ast.Name(id=param, ctx=ast.Store()), value)
        return changed

    def _propagate(self) -> None:
        changed = True
        while changed:
            changed = False
            for node in self.nodes:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        changed |= self._bind(target, node.value)
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    changed |= self._bind(node.target, node.value)
                elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                    changed |= self._bind_iteration(node.target, node.iter)
                elif isinstance(node, ast.Call):
                    changed |= self._bind_nested_call(node)

    # -- sites --
    def _ancestors(self, node: ast.AST) -> list[ast.AST]:
        chain: list[ast.AST] = []
        while node in self.parents:
            node = self.parents[node]
            chain.append(node)
        return chain

    def _expand_kwargs(
        self, name: str, call: ast.Call, values: dict[str, ast.expr] | None = None
    ) -> tuple[set[str], set[str], list[str]]:
        """Keys of the dict `name` passed as `**name`: (all keys, keys set under a condition);
        `values`, when given, receives each key's literal value expression."""
        values = {} if values is None else values
        keys: set[str] = set()
        conditional: set[str] = set()
        problems: list[str] = []
        call_context = set(map(id, self._ancestors(call)))
        found = False
        for node in self.nodes:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        found = True
                        if isinstance(node.value, ast.Dict):
                            for key, value in zip(node.value.keys, node.value.values):
                                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                                    keys.add(key.value)
                                    values.setdefault(key.value, value)
                                else:
                                    problems.append(f"**{name}: non-literal key")
                        elif (
                            isinstance(node.value, ast.Call)
                            and _last_name(node.value.func) == "dict"
                        ):
                            for k in node.value.keywords:
                                if k.arg:
                                    keys.add(k.arg)
                                    values.setdefault(k.arg, k.value)
                            if node.value.args:
                                problems.append(f"**{name}: dict(...) with positional arguments")
                        else:
                            problems.append(f"**{name} = {ast.unparse(node.value)}")
                    elif (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == name
                    ):
                        key = target.slice
                        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                            problems.append(f"**{name}[{ast.unparse(key)}]: non-literal key")
                            continue
                        keys.add(key.value)
                        values.setdefault(key.value, node.value)
                        if any(
                            isinstance(a, _CONDITIONAL_STATEMENTS) and id(a) not in call_context
                            for a in self._ancestors(node)
                        ):
                            conditional.add(key.value)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == name
                and node.func.attr in {"update", "setdefault", "pop"}
            ):
                problems.append(f"**{name}.{node.func.attr}(...) not analysed")
        if not found:
            problems.append(f"**{name}: no assignment found")
        return keys, conditional, problems

    def _kept_as(self, call: ast.Call) -> str | None:
        """`x` when the call's result is assigned to `self.x` (directly or inside an expression)."""
        for ancestor in self._ancestors(call):
            if isinstance(ancestor, (ast.Assign, ast.AnnAssign)):
                targets = (
                    ancestor.targets if isinstance(ancestor, ast.Assign) else [ancestor.target]
                )
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                    ):
                        return target.attr
                return None
            if isinstance(ancestor, ast.stmt):
                return None
        return None

    def sites(self, path: Path, owner: str) -> list[CallSite]:
        found: list[CallSite] = []
        for node in self.nodes:
            if not isinstance(node, ast.Call):
                continue
            if (
                _last_name(node.func) == "build_module"
                and node.args
                and self.is_buildable(node.args[0])
            ):
                construction: Construction = "build_module"
                args = node.args[1:]
            elif self.is_buildable(node.func):
                construction = "call"
                args = node.args
            elif self.reader and any(
                kw.arg == "spec" and self.is_buildable(kw.value) for kw in node.keywords
            ):
                # `Block(spec=<slot>, ...)`: the class takes the spec and uses its submodules,
                # as build_module would build it (HybridModel's MultiTokenPredictionBlock).
                construction = "build_module"
                args = node.args
            else:
                continue
            unresolved: list[str] = []
            passed: list[PassedArgument] = []
            positional = 0
            for arg in args:
                if isinstance(arg, ast.Starred):
                    unresolved.append(f"*{ast.unparse(arg.value)}")
                else:
                    positional += 1
                    passed.append(PassedArgument(None, arg))
            keywords: set[str] = set()
            conditional: set[str] = set()
            for kw in node.keywords:
                if kw.arg == "spec" and construction == "build_module" and node.args == args:
                    continue  # the spec handed to the class is the slot itself
                if kw.arg is not None:
                    keywords.add(kw.arg)
                    passed.append(PassedArgument(kw.arg, kw.value))
                elif isinstance(kw.value, ast.Name):
                    values: dict[str, ast.expr] = {}
                    keys, cond, problems = self._expand_kwargs(kw.value.id, node, values)
                    keywords |= keys
                    conditional |= cond
                    unresolved += problems
                    passed += [
                        PassedArgument(key, values.get(key), key in cond) for key in sorted(keys)
                    ]
                else:
                    unresolved.append(f"**{ast.unparse(kw.value)}")
            found.append(
                CallSite(
                    path,
                    node.lineno,
                    owner,
                    construction,
                    positional,
                    frozenset(keywords),
                    frozenset(conditional),
                    tuple(unresolved),
                    tuple(passed),
                    self._kept_as(node),
                    self.func,
                )
            )
        return found


def class_sites(cls: ClassRef, slot: str, is_list: bool, reader: bool = False) -> list[CallSite]:
    """Call sites of `slot` in the methods defined in `cls` itself."""
    found: list[CallSite] = []
    for stmt in cls.node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if slot not in _index(stmt).mentions:
                continue
            analysis = _MethodAnalysis(stmt, slot, is_list, reader)
            found += analysis.sites(cls.path, f"{cls.name}.{stmt.name}")
    return found


@functools.cache
def _sources() -> tuple[tuple[Path, str], ...]:
    """Every file under megatron/core with its text (read once)."""
    return tuple((p, p.read_text(encoding="utf-8")) for p in sorted(core_dir().rglob("*.py")))


def subclasses(cls: ClassRef) -> list[ClassRef]:
    """Classes under megatron/core that derive from `cls`, directly or not."""
    found: list[ClassRef] = []
    for path, text in _sources():
        if not re.search(rf"^\s*class \w+\([^)]*\b{cls.name}\b", text, re.MULTILINE):
            continue
        module = module_name(path)
        for node in parse(path).body:
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                direct = [resolve_class(module, b) for b in bases]
                if any(d is not None and d.qualname == cls.qualname for d in direct):
                    sub = ClassRef(module, node, path)
                    found += [sub, *subclasses(sub)]
    return found


@dataclass(frozen=True)
class SlotSites:
    """Where a parent builds a slot, and from which classes the sites came."""

    summary: SiteSummary
    searched: tuple[str, ...]  # classes whose methods were searched
    from_subclasses: bool  # the parent and its bases never build it; its subclasses do


@functools.cache
def find_sites(parent: ClassRef, slot: str, is_list: bool) -> SlotSites:
    """Call sites of `slot` in `parent`'s methods and those it inherits from megatron/core.

    When neither builds the slot, the subclasses of `parent` under megatron/core are searched
    (MLASelfAttentionSubmodules.linear_qkv_down_proj is only built by FusedMLASelfAttention).
    """
    searched = [parent, *base_classes(parent)]
    sites: list[CallSite] = []
    for cls in searched:
        sites += class_sites(cls, slot, is_list)
    from_subclasses = False
    for dotted in SLOT_READERS.get(f"{parent.qualname}.{slot}", ()):
        reader = resolve_dotted(dotted)
        assert reader is not None, f"{dotted} not found"
        searched.append(reader)
        sites += class_sites(reader, slot, is_list, reader=True)
    if not sites:
        for sub in subclasses(parent):
            found = class_sites(sub, slot, is_list)
            if found:
                searched.append(sub)
                sites += found
                from_subclasses = True
    sites.sort(key=lambda s: (str(s.path), s.line))
    return SlotSites(summarize(tuple(sites)), tuple(c.name for c in searched), from_subclasses)


# The class that builds each Submodules dataclass (upstream's own pairing; several classes
# accept MLPSubmodules, MLP is the one its specs target). Checked by a test: each parent's
# __init__ takes a `submodules` parameter annotated with the dataclass.
PARENTS: dict[str, str] = {
    "megatron.core.models.hybrid.hybrid_block.HybridStackSubmodules": (
        "megatron.core.models.hybrid.hybrid_block.HybridStack"
    ),
    "megatron.core.ssm.gated_delta_net.common.GatedDeltaNetSubmodules": (
        "megatron.core.ssm.gated_delta_net.gdn.GatedDeltaNet"
    ),
    "megatron.core.ssm.mamba_layer.MambaLayerSubmodules": "megatron.core.ssm.mamba_layer.MambaLayer",
    "megatron.core.ssm.mamba_mixer.MambaMixerSubmodules": "megatron.core.ssm.mamba_mixer.MambaMixer",
    "megatron.core.transformer.attention.SelfAttentionSubmodules": (
        "megatron.core.transformer.attention.SelfAttention"
    ),
    "megatron.core.transformer.attention.CrossAttentionSubmodules": (
        "megatron.core.transformer.attention.CrossAttention"
    ),
    "megatron.core.transformer.experimental_attention_variant.absorbed_mla."
    "AbsorbedMLASelfAttentionSubmodules": (
        "megatron.core.transformer.experimental_attention_variant.absorbed_mla."
        "AbsorbedMLASelfAttention"
    ),
    "megatron.core.transformer.experimental_attention_variant.dsa.DSAIndexerSubmodules": (
        "megatron.core.transformer.experimental_attention_variant.dsa.DSAIndexer"
    ),
    "megatron.core.transformer.experimental_attention_variant.dsa.DSAttentionSubmodules": (
        "megatron.core.transformer.experimental_attention_variant.dsa.DSAttention"
    ),
    "megatron.core.transformer.mlp.MLPSubmodules": "megatron.core.transformer.mlp.MLP",
    "megatron.core.transformer.moe.experts.GroupedMLPSubmodules": (
        "megatron.core.transformer.moe.experts.TEGroupedMLP"
    ),
    "megatron.core.transformer.moe.moe_layer.MoESubmodules": (
        "megatron.core.transformer.moe.moe_layer.MoELayer"
    ),
    "megatron.core.transformer.multi_latent_attention.MLASelfAttentionSubmodules": (
        "megatron.core.transformer.multi_latent_attention.MLASelfAttention"
    ),
    "megatron.core.transformer.multi_token_prediction.MultiTokenPredictionLayerSubmodules": (
        "megatron.core.transformer.multi_token_prediction.MultiTokenPredictionLayer"
    ),
    "megatron.core.transformer.multi_token_prediction.MultiTokenPredictionBlockSubmodules": (
        "megatron.core.transformer.multi_token_prediction.MultiTokenPredictionBlock"
    ),
    "megatron.core.transformer.transformer_block.TransformerBlockSubmodules": (
        "megatron.core.transformer.transformer_block.TransformerBlock"
    ),
    "megatron.core.transformer.transformer_layer.TransformerLayerSubmodules": (
        "megatron.core.transformer.transformer_layer.TransformerLayer"
    ),
}


# Slots a class other than the parent reads from a spec's submodules and builds, keyed by
# `parent.slot`: HybridModel takes its stack spec's `submodules.mtp_block_spec` and hands it as
# `spec=` to MultiTokenPredictionBlock (HybridStack never reads it).
SLOT_READERS: dict[str, tuple[str, ...]] = {
    "megatron.core.models.hybrid.hybrid_block.HybridStack.mtp_block_spec": (
        "megatron.core.models.hybrid.hybrid_model.HybridModel",
    ),
}


def format_summary(summary: SiteSummary) -> str:
    """`build_module 2 pos; kw: a, b; cond: b` in one line."""
    if not summary.sites:
        return "no call site"
    kind = summary.construction or "?"
    if len(summary.constructions) > 1:
        kind += " (mixed: " + "+".join(sorted(summary.constructions)) + ")"
    parts = [f"{kind}, {summary.positional} pos"]
    if summary.conditional_positional:
        parts[-1] += f" ({summary.conditional_positional} conditional)"
    parts.append("kw: " + (", ".join(sorted(summary.keywords)) or "-"))
    if summary.conditional_keywords:
        parts.append("cond: " + ", ".join(sorted(summary.conditional_keywords)))
    if summary.unresolved:
        parts.append("UNRESOLVED: " + "; ".join(summary.unresolved))
    return "; ".join(parts)


def main() -> None:
    """Print every upstream slot with its annotation, default and call sites."""
    for slot in upstream_slots():
        parent = resolve_dotted(PARENTS[slot.dataclass.qualname])
        assert parent is not None
        found = find_sites(parent, slot.name, slot.is_list)
        print(
            f"{slot.short} [{parent.name}] : {slot.annotation_text} = {slot.default_text}\n"
            f"    {format_summary(found.summary)}\n"
            + "".join(f"      {s.where} {s.construction}\n" for s in found.summary.sites),
            end="",
        )


if __name__ == "__main__":
    main()


def origin_of(module: str, name: str) -> str | None:
    """The fully qualified path of `name` as `module`'s source binds it at top level: defined
    there (class, function, assignment), or imported (`from x import name`, `import x.y`)."""
    path = module_path(module)
    if path is None:
        return None
    tree = parse(path)
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == name:
                return f"{module}.{name}"
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return f"{module}.{name}"
    origin = _imported(module, name)
    if origin is not None:
        return f"{origin[0]}.{origin[1]}" if origin[0] else None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname == name:
                    return alias.name
                if alias.asname is None and alias.name.split(".")[0] == name:
                    return name
    return None
