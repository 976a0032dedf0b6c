"""Canonical, comparable trees of layer-spec values (upstream's and the generated ones).

Megatron-Core puts many kinds of values into a submodule slot: a class, a plain function, a
``ModuleSpec(module, params, submodules, metainfo)``, a ``functools.partial`` of a class, a
function or a constructor classmethod (``partial(MLP.as_mlp_submodule, submodules=...)``), a
Submodules dataclass, a list of layer specs, ``None``; the generated code adds its adapters
(frozen dataclasses with a typed ``__call__``, and typed ``ModuleSpec`` subclasses).
:func:`normalize` reduces any of them to one tree of :class:`SpecNode` (implementation, fixed
arguments, Submodules type, slots, metainfo), so that two specs that build the same modules with
the same arguments compare equal, whichever spelling they use:

* a bare class, ``ModuleSpec(module=cls)``, ``partial(cls)`` and an adapter without fixed
  arguments are the same node;
* ``partial(X, submodules=S, **kw)`` is ``ModuleSpec(module=X, params=kw, submodules=S)``;
* a constructor classmethod (``MLP.as_mlp_submodule``) stands for its class, so
  ``partial(MLP.as_mlp_submodule, submodules=S)`` equals the adapter that builds ``MLP`` with S;
* a class whose only body is ``__new__`` returning another class built with constant keywords
  (``_TENormWithResidual``: ``TENorm(..., has_residual=True)``) is that class with those arguments;
* a dataclass adapter is the class its ``__call__`` builds (read from the source), with the
  keywords it passes from its own fields (or constants) as fixed arguments and the
  ``submodules`` it passes as slots;
* an argument equal to the implementation's own default is dropped (``is_expert=False``).

Implementations are compared by identity (the object itself); names are for printing only.
Without Transformer Engine, megatron's TE classes are ``MagicMock`` instances or ``None``; both
still compare by identity and print under the name megatron's modules bind them to.

This module is not part of the generation pipeline (it imports nothing heavy itself, but it
inspects megatron objects); tests and the ``explain`` command use it.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import importlib
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast
from unittest import mock

__all__ = [
    "Atom",
    "Record",
    "SpecList",
    "SpecMap",
    "SpecNode",
    "SpecTreeError",
    "Tree",
    "diff",
    "normalize",
    "qualified_name",
    "render",
]

CONSTRUCTOR_CLASSMETHODS = frozenset({"as_mlp_submodule"})
"""Classmethods that build their own class (``cls(config=..., submodules=..., ...)``) for a
parent that calls the slot with other arguments than ``__init__`` takes; a bound one stands for
its class."""

IMPLEMENTATION_ATTRIBUTE = "implementation"
"""Class attribute an adapter may define to name what it builds; read before its source."""

_NAME_MODULE_PREFIXES = ("megatron.", "generated.")
_DISPLAY_PREFIX = "megatron.core."
_TE_MODULE = "megatron.core.extensions.transformer_engine"


class SpecTreeError(Exception):
    """A value the normalizer cannot reduce (e.g. an adapter whose ``__call__`` builds several
    different classes)."""


@dataclass(frozen=True)
class Atom:
    """A plain value (bool, int, float, str, enum member, None, or anything else by its repr)."""

    type_name: str
    text: str


@dataclass(frozen=True)
class SpecList:
    """A list or tuple of values (``layer_specs``)."""

    items: tuple[Tree, ...]


@dataclass(frozen=True)
class SpecMap:
    """A dict, keys sorted (``sharded_state_dict_keys_map``, ``metainfo``)."""

    items: tuple[tuple[str, Tree], ...]


@dataclass(frozen=True)
class Record:
    """A dataclass instance that is not itself a spec (a Submodules dataclass on its own, e.g.
    what ``get_gpt_decoder_block_spec`` returns)."""

    type: object
    name: str = field(compare=False)
    fields: tuple[tuple[str, Tree], ...] = ()


@dataclass(frozen=True)
class SpecNode:
    """What one slot builds.

    Attributes:
        implementation: the class or function built (``None`` for a Transformer Engine class
            that is ``None`` because TE is not installed); compared by identity.
        name: its qualified name, for printing only.
        arguments: fixed arguments, by name, without those equal to the implementation's
            default.
        submodules_type: the Submodules dataclass the implementation receives, if any.
        slots: the fields of that Submodules value, each normalized.
        metainfo: ``ModuleSpec.metainfo`` (read by upstream's factories).
    """

    implementation: object
    name: str = field(compare=False)
    arguments: tuple[tuple[str, Tree], ...] = ()
    submodules_type: object = None
    slots: tuple[tuple[str, Tree], ...] = ()
    metainfo: tuple[tuple[str, Tree], ...] = ()


Tree = SpecNode | Record | SpecList | SpecMap | Atom
"""A normalized slot value."""

NONE = Atom("NoneType", "None")


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def _is_mock(value: object) -> bool:
    return isinstance(value, mock.NonCallableMock)


def _lookup_name(value: object) -> str | None:
    """The ``module.NAME`` a megatron or generated module binds ``value`` to (first found)."""
    modules = [
        (name, module)
        for name, module in sys.modules.copy().items()
        if name.startswith(_NAME_MODULE_PREFIXES)
    ]
    # Where megatron defines its Transformer Engine names first, then the rest by name.
    modules.sort(key=lambda item: (item[0] != _TE_MODULE, item[0]))
    for module_name, module in modules:
        namespace = cast(dict[str, object], getattr(module, "__dict__", {}))
        for attribute, bound in namespace.items():
            if bound is value:
                return f"{module_name}.{attribute}"
    return None


@functools.cache
def _mock_name(value: mock.NonCallableMock) -> str:
    found = _lookup_name(value)
    return f"{found} (mock)" if found is not None else repr(value)


def qualified_name(value: object) -> str:
    """A printable dotted name of a class, function, bound method or mock."""
    if value is None:
        return "None"
    if isinstance(value, mock.NonCallableMock):
        return _mock_name(value)
    if isinstance(value, types.MethodType):
        return f"{qualified_name(value.__self__)}.{value.__func__.__name__}"
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return repr(value)


def _short(name: str) -> str:
    return name.removeprefix(_DISPLAY_PREFIX)


# --------------------------------------------------------------------------------------------
# Implementations: aliases, defaults
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Implementation:
    """An implementation and what an alias for it fixes."""

    target: object
    arguments: tuple[tuple[str, object], ...] = ()
    defaults_from: tuple[object, ...] = ()


def _resolve_implementation(value: object) -> _Implementation:
    """Map aliases to what they build: constructor classmethods to their class, ``__new__``
    shims to their target with the constants they add."""
    if _is_mock(value) or value is None:
        return _Implementation(value)
    if isinstance(value, types.MethodType):
        owner = value.__self__
        if inspect.isclass(owner) and value.__func__.__name__ in CONSTRUCTOR_CLASSMETHODS:
            return _Implementation(owner, defaults_from=(owner, value))
        return _Implementation(value)
    if inspect.isclass(value):
        shim = _new_shim(value)
        if shim is not None:
            reference, arguments = shim
            target = reference.resolve()
            if target is not value:
                inner = _resolve_implementation(target)
                return _Implementation(inner.target, inner.arguments + arguments)
    return _Implementation(value)


@dataclass(frozen=True, eq=False)
class _Reference:
    """A name or dotted expression in a module, looked up when used (so that a test that
    rebinds the name, e.g. to simulate Transformer Engine, is seen), or a fixed object."""

    expression: ast.expr | None
    namespace: Mapping[str, object]
    fixed: object = None

    def resolve(self) -> object:
        if self.expression is None:
            return self.fixed
        return _resolve_expression(self.expression, self.namespace)


@functools.cache
def _new_shim(cls: type) -> tuple[_Reference, tuple[tuple[str, object], ...]] | None:
    """``class X: def __new__(cls, *args, **kwargs): return Y(*args, k=CONST, **kwargs)``."""
    own = cast(dict[str, object], vars(cls))
    new = own.get("__new__")
    if not isinstance(new, staticmethod | types.FunctionType):
        return None
    function = cast(object, new.__func__ if isinstance(new, staticmethod) else new)
    tree = _function_ast(function)
    if tree is None:
        return None
    body = [statement for statement in tree.body if not _is_docstring(statement)]
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return None
    call = body[0].value
    if not isinstance(call, ast.Call):
        return None
    if not all(isinstance(argument, ast.Starred) for argument in call.args):
        return None
    arguments: list[tuple[str, object]] = []
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        if not isinstance(keyword.value, ast.Constant):
            return None
        arguments.append((keyword.arg, cast(object, keyword.value.value)))
    return _Reference(call.func, _globals_of(function)), tuple(arguments)


def _defaults(implementation: object) -> dict[str, object]:
    """Parameter defaults of ``implementation`` (empty when it has no readable signature)."""
    if _is_mock(implementation) or implementation is None:
        return {}
    try:
        return _cached_defaults(implementation)
    except TypeError:  # unhashable
        return _read_defaults(implementation)


@functools.cache
def _cached_defaults(implementation: object) -> dict[str, object]:
    return _read_defaults(implementation)


def _read_defaults(implementation: object) -> dict[str, object]:
    try:
        signature = inspect.signature(cast(Callable[..., object], implementation))
    except (TypeError, ValueError):
        return {}
    return {
        name: cast(object, parameter.default)
        for name, parameter in signature.parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def _positional_names(implementation: object) -> list[str]:
    if _is_mock(implementation) or implementation is None:
        return []
    try:
        signature = inspect.signature(cast(Callable[..., object], implementation))
    except (TypeError, ValueError):
        return []
    return [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind
        in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]


# --------------------------------------------------------------------------------------------
# Adapters: read what ``__call__`` builds
# --------------------------------------------------------------------------------------------


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _function_ast(function: object) -> ast.FunctionDef | None:
    try:
        source = inspect.getsource(cast(Callable[..., object], function))
    except (OSError, TypeError):
        return None
    module = ast.parse(textwrap.dedent(source))
    if module.body and isinstance(module.body[0], ast.FunctionDef):
        return module.body[0]
    return None


def _globals_of(function: object) -> Mapping[str, object]:
    namespace = getattr(function, "__globals__", None)
    if isinstance(namespace, dict):
        return cast(dict[str, object], namespace)
    return {}


def _resolve_expression(node: ast.expr, namespace: Mapping[str, object]) -> object:
    """The object a name or dotted attribute expression denotes in ``namespace``."""
    if isinstance(node, ast.Name):
        alias = _module_aliases(str(namespace.get("__name__", ""))).get(node.id)
        if alias is not None:  # a module-level binding such as `_X = module.X`: follow it now
            return _resolve_expression(alias, namespace)
        if node.id in namespace:
            return namespace[node.id]
        builtins = cast(dict[str, object], vars(importlib.import_module("builtins")))
        if node.id in builtins:
            return builtins[node.id]
        raise SpecTreeError(f"name {node.id!r} is not defined where the adapter is")
    if isinstance(node, ast.Attribute):
        return cast(object, getattr(_resolve_expression(node.value, namespace), node.attr))
    raise SpecTreeError(f"cannot resolve {ast.unparse(node)!r} to an implementation")


@functools.cache
def _module_aliases(module_name: str) -> dict[str, ast.expr]:
    """Top-level `name = dotted.path` bindings of a module (generated code binds unannotated
    upstream objects to their types that way), read from its source."""
    module = sys.modules.get(module_name)
    if module is None:
        return {}
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return {}
    aliases: dict[str, ast.expr] = {}
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Attribute)
        ):
            aliases[statement.targets[0].id] = statement.value
    return aliases


def _own_returns(function: ast.FunctionDef) -> list[ast.Return]:
    """Return statements of ``function`` itself (not of nested functions or classes)."""
    found: list[ast.Return] = []
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Return):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


@dataclass(frozen=True)
class _AdapterCall:
    """What an adapter's ``__call__`` builds: target and keyword -> source of the value."""

    target: _Reference
    target_text: str
    from_fields: tuple[tuple[str, str], ...]
    constants: tuple[tuple[str, object], ...]


@functools.cache
def _adapter_call(cls: type) -> _AdapterCall:
    declared = cast(dict[str, object], vars(cls)).get(IMPLEMENTATION_ATTRIBUTE)
    call_function = cast(object, getattr(cls, "__call__"))
    tree = _function_ast(call_function)
    if tree is None:
        if declared is not None:
            return _AdapterCall(_Reference(None, {}, declared), qualified_name(declared), (), ())
        raise SpecTreeError(f"cannot read the source of {qualified_name(cls)}.__call__")
    calls = [ret.value for ret in _own_returns(tree) if isinstance(ret.value, ast.Call)]
    targets = {ast.unparse(call.func) for call in calls}
    if len(targets) != 1:
        if declared is not None:
            return _AdapterCall(_Reference(None, {}, declared), qualified_name(declared), (), ())
        raise SpecTreeError(
            f"{qualified_name(cls)}.__call__ must return one call to what it builds;"
            f" found {sorted(targets) or 'none'}"
        )
    call = calls[0]
    target = (
        _Reference(None, {}, declared)
        if declared is not None
        else _Reference(call.func, _globals_of(call_function))
    )
    target.resolve()  # fail early on a name the module does not define
    from_fields: list[tuple[str, str]] = []
    constants: list[tuple[str, object]] = []
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        value = keyword.value
        if (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.value.id == "self"
        ):
            from_fields.append((keyword.arg, value.attr))
        elif isinstance(value, ast.Constant):
            constants.append((keyword.arg, cast(object, value.value)))
    return _AdapterCall(target, ast.unparse(call.func), tuple(from_fields), tuple(constants))


def _is_adapter(value: object) -> bool:
    """A dataclass instance whose class defines ``__call__`` (a generated adapter)."""
    if isinstance(value, type) or not dataclasses.is_dataclass(value):
        return False
    return any("__call__" in vars(klass) for klass in type(value).__mro__[:-1])


# --------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------


def normalize(value: object) -> Tree:
    """The canonical tree of any slot value (see the module docstring for the equivalences)."""
    if value is None:
        return NONE
    if _is_mock(value):
        return _node(value, {}, None)
    from megatron.core.transformer.spec_utils import ModuleSpec

    if isinstance(value, ModuleSpec):
        return _from_module_spec(value)
    if isinstance(value, functools.partial):
        return _from_partial(cast("functools.partial[object]", value))
    if inspect.isclass(value):
        return _node(value, {}, None)
    if _is_adapter(value):
        return _from_adapter(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return Record(
            type(value),
            qualified_name(type(value)),
            tuple(
                (item.name, normalize(cast(object, getattr(value, item.name))))
                for item in dataclasses.fields(value)
            ),
        )
    if isinstance(value, enum.Enum | bool | int | float | str | bytes):
        return _atom(value)
    if isinstance(value, list | tuple):
        items = cast(Iterable[object], value)
        return SpecList(tuple(normalize(item) for item in items))
    if isinstance(value, dict):
        return _map(cast(dict[object, object], value))
    if callable(value):
        return _node(value, {}, None)
    return _atom(value)


def _atom(value: object) -> Atom:
    if isinstance(value, enum.Enum):
        return Atom(qualified_name(type(value)), f"{type(value).__name__}.{value.name}")
    return Atom(qualified_name(type(value)), repr(value))


def _key(key: object) -> str:
    return key if isinstance(key, str) else repr(key)


def _map(mapping: Mapping[object, object]) -> SpecMap:
    items = [(_key(key), normalize(item)) for key, item in mapping.items()]
    return SpecMap(tuple(sorted(items, key=lambda item: item[0])))


def _from_module_spec(spec: object) -> SpecNode:
    module = cast(object, getattr(spec, "module"))
    if isinstance(module, tuple):
        path, name = cast(tuple[str, str], module)
        module = cast(object, getattr(importlib.import_module(path), name))
    params = cast(dict[object, object], getattr(spec, "params") or {})
    metainfo = cast(dict[object, object], getattr(spec, "metainfo") or {})
    return _node(
        module,
        {_key(key): item for key, item in params.items()},
        cast(object, getattr(spec, "submodules")),
        metainfo,
    )


def _from_partial(value: functools.partial[object]) -> SpecNode:
    arguments: dict[str, object] = {}
    if value.args:
        names = _positional_names(value.func)
        for index, argument in enumerate(value.args):
            name = names[index] if index < len(names) else f"<positional {index}>"
            arguments[name] = argument
    arguments.update(value.keywords)
    submodules = arguments.pop("submodules", None)
    return _node(value.func, arguments, submodules)


def _from_adapter(adapter: object) -> Tree:
    cls = type(adapter)
    built = _adapter_call(cls)
    field_names = [item.name for item in dataclasses.fields(cast(type, cls))]
    arguments: dict[str, object] = dict(built.constants)
    used: set[str] = set()
    for keyword, field_name in built.from_fields:
        if field_name in field_names:
            arguments[keyword] = cast(object, getattr(adapter, field_name))
            used.add(field_name)
    for field_name in field_names:
        if field_name not in used:
            arguments[field_name] = cast(object, getattr(adapter, field_name))
    submodules = arguments.pop("submodules", None)
    # A Transformer Engine class is None without TE. An adapter that binds nothing to it is
    # that None, as upstream's spec holds it; one that binds arguments keeps its name.
    target = built.target.resolve()
    if target is None and not arguments and submodules is None:
        return normalize(None)
    name = f"{built.target_text} (None)" if target is None else None
    return _node(target, arguments, submodules, name=name)


def _node(
    implementation: object,
    arguments: Mapping[str, object],
    submodules: object,
    metainfo: Mapping[object, object] | None = None,
    *,
    name: str | None = None,
) -> SpecNode:
    resolved = _resolve_implementation(implementation)
    merged: dict[str, object] = dict(resolved.arguments)
    merged.update(arguments)
    defaults: dict[str, object] = {}
    for source in reversed((resolved.target, *resolved.defaults_from)):
        defaults.update(_defaults(source))
    kept: list[tuple[str, Tree]] = []
    for argument_name, argument in sorted(merged.items(), key=lambda item: item[0]):
        tree = normalize(argument)
        if argument_name in defaults and normalize(defaults[argument_name]) == tree:
            continue
        kept.append((argument_name, tree))
    submodules_type: object = None
    slots: tuple[tuple[str, Tree], ...] = ()
    if submodules is not None:
        if dataclasses.is_dataclass(submodules) and not isinstance(submodules, type):
            submodules_type = type(submodules)
            slots = tuple(
                (item.name, normalize(cast(object, getattr(submodules, item.name))))
                for item in dataclasses.fields(submodules)
            )
        else:
            slots = (("submodules", normalize(submodules)),)
    info = _map(metainfo).items if metainfo else ()
    return SpecNode(
        implementation=resolved.target,
        name=name if name is not None else qualified_name(resolved.target),
        arguments=tuple(kept),
        submodules_type=submodules_type,
        slots=slots,
        metainfo=info,
    )


# --------------------------------------------------------------------------------------------
# Rendering and differences
# --------------------------------------------------------------------------------------------


def _inline(tree: Tree) -> str:
    """A one-line rendering (arguments, map values)."""
    match tree:
        case Atom():
            return tree.text
        case SpecNode():
            arguments = ", ".join(f"{name}={_inline(value)}" for name, value in tree.arguments)
            head = _short(tree.name) + (f"({arguments})" if arguments else "")
            if tree.slots:
                head += " {" + ", ".join(f"{n}: {_inline(v)}" for n, v in tree.slots) + "}"
            return head
        case Record():
            inner = ", ".join(f"{name}={_inline(value)}" for name, value in tree.fields)
            return f"{_short(tree.name)}({inner})"
        case SpecList():
            return "[" + ", ".join(_inline(item) for item in tree.items) + "]"
        case SpecMap():
            return "{" + ", ".join(f"{key!r}: {_inline(v)}" for key, v in tree.items) + "}"


def _lines(label: str, tree: Tree, depth: int) -> list[str]:
    indent = "  " * depth
    prefix = f"{indent}{label}: " if label else indent
    match tree:
        case SpecNode():
            arguments = ", ".join(f"{name}={_inline(value)}" for name, value in tree.arguments)
            head = _short(tree.name) + (f"({arguments})" if arguments else "")
            if tree.submodules_type is not None:
                head += f"  [{_short(qualified_name(tree.submodules_type))}]"
            if tree.metainfo:
                head += "  metainfo=" + _inline(SpecMap(tree.metainfo))
            lines = [prefix + head]
            for name, value in tree.slots:
                lines.extend(_lines(name, value, depth + 1))
            return lines
        case Record():
            lines = [prefix + _short(tree.name)]
            for name, value in tree.fields:
                lines.extend(_lines(name, value, depth + 1))
            return lines
        case SpecList():
            if not tree.items:
                return [prefix + "[]"]
            lines = [prefix + f"[{len(tree.items)} items]"]
            for index, item in enumerate(tree.items):
                lines.extend(_lines(f"[{index}]", item, depth + 1))
            return lines
        case SpecMap() | Atom():
            return [prefix + _inline(tree)]


def render(tree: Tree) -> str:
    """An indented, readable rendering of ``tree`` (one slot per line)."""
    return "\n".join(_lines("", tree, 0))


def _kind(tree: Tree) -> str:
    return type(tree).__name__


def _pairs(
    left: tuple[tuple[str, Tree], ...], right: tuple[tuple[str, Tree], ...]
) -> list[tuple[str, Tree | None, Tree | None]]:
    a = dict(left)
    b = dict(right)
    names = list(a) + [name for name in b if name not in a]
    return [(name, a.get(name), b.get(name)) for name in names]


def _diff(path: str, a: Tree | None, b: Tree | None, out: list[str]) -> None:
    where = path or "<root>"
    if a == b:
        return
    if a is None or b is None:
        present = a if a is not None else b
        assert present is not None
        side = "only in first" if a is not None else "only in second"
        out.append(f"{where}: {side}: {_inline(present)}")
        return
    if type(a) is not type(b):
        out.append(f"{where}: {_kind(a)} {_inline(a)} != {_kind(b)} {_inline(b)}")
        return
    if isinstance(a, SpecNode) and isinstance(b, SpecNode):
        if a.implementation != b.implementation:
            out.append(f"{where}: implementation {_short(a.name)} != {_short(b.name)}")
            return
        for name, left, right in _pairs(a.arguments, b.arguments):
            _diff(f"{where}({name}=)", left, right, out)
        if a.submodules_type != b.submodules_type:
            out.append(
                f"{where}: submodules {_short(qualified_name(a.submodules_type))}"
                f" != {_short(qualified_name(b.submodules_type))}"
            )
        for name, left, right in _pairs(a.slots, b.slots):
            _diff(f"{path}.{name}" if path else name, left, right, out)
        for name, left, right in _pairs(a.metainfo, b.metainfo):
            _diff(f"{where}{{metainfo {name}}}", left, right, out)
        return
    if isinstance(a, Record) and isinstance(b, Record):
        if a.type != b.type:
            out.append(f"{where}: {_short(a.name)} != {_short(b.name)}")
            return
        for name, left, right in _pairs(a.fields, b.fields):
            _diff(f"{path}.{name}" if path else name, left, right, out)
        return
    if isinstance(a, SpecList) and isinstance(b, SpecList):
        if len(a.items) != len(b.items):
            out.append(f"{where}: {len(a.items)} items != {len(b.items)} items")
        for index, (left, right) in enumerate(zip(a.items, b.items)):
            _diff(f"{path}[{index}]", left, right, out)
        return
    if isinstance(a, SpecMap) and isinstance(b, SpecMap):
        for key, left, right in _pairs(a.items, b.items):
            _diff(f"{path}[{key!r}]", left, right, out)
        return
    out.append(f"{where}: {_inline(a)} != {_inline(b)}")


def diff(a: Tree, b: Tree, limit: int = 20) -> list[str]:
    """The differences between two trees, as ``path: what differs`` lines (first ``limit``).

    Paths follow the slots (``self_attention.linear_qkv``), list indices (``layer_specs[1]``),
    map keys, arguments (``self_attention(attn_mask_type=)``) and metainfo. Equal trees give [].
    Repeated subtrees (the same layer spec at several list positions) are reported at each.
    """
    out: list[str] = []
    _diff("", a, b, out)
    if len(out) > limit:
        return out[:limit] + [f"... and {len(out) - limit} more"]
    return out
