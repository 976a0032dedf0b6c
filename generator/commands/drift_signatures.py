"""Drift of the described implementations, interfaces and upstream Protocol pairs.

For `python -m generator check` (see generator/commands/drift.py for the slots and call sites):
- an implementation whose constructor (its own or inherited `__init__`, or `__new__`, or the
  function's signature) no longer accepts what its adapter passes, or has a required parameter
  the adapter does not pass;
- an interface method the parent calls that an implementation no longer defines (only where the
  implementation's whole class chain is megatron-core's own, so a missing method is certain);
- an `upstream` Protocol the descriptions pair with that no longer exists.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.commands.drift import Drift, described_slots
from generator.model import (
    Builder,
    Implementation,
    ImplementationKind,
    MappingKind,
    ParameterKind,
)
from generator.upstream import source as src
from generator.validate import Catalog

# Bases outside megatron/core that add no constructor parameters and no interface methods.
_NEUTRAL_BASES = frozenset({"object", "ABC", "Protocol", "Generic", "Module", "torch.nn.Module"})


@dataclass(frozen=True)
class Signature:
    """What a callable accepts, from its `def`."""

    path: Path
    line: int
    positional: tuple[str, ...]  # positional-capable parameter names, in order (self dropped)
    keyword: frozenset[str]  # names accepted by keyword
    required: frozenset[str]  # parameters without a default
    var_positional: bool
    var_keyword: bool


def _signature(path: Path, func: ast.FunctionDef, method: bool) -> Signature:
    args = func.args
    ordered = args.posonlyargs + args.args
    if method and ordered:
        ordered = ordered[1:]
    defaults = [None] * (len(args.posonlyargs + args.args) - len(args.defaults)) + list(
        args.defaults
    )
    if method and defaults:
        defaults = defaults[1:]
    required = {a.arg for a, d in zip(ordered, defaults) if d is None}
    required |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None}
    return Signature(
        path,
        func.lineno,
        tuple(a.arg for a in ordered),
        frozenset(a.arg for a in args.args[1 if method else 0 :] + args.kwonlyargs),
        frozenset(required),
        args.vararg is not None,
        args.kwarg is not None,
    )


def _base_names(cls: src.ClassRef) -> list[str]:
    return [ast.unparse(b) for b in cls.node.bases]


def _chain_is_known(cls: src.ClassRef) -> bool:
    """Every base of the class, transitively, is megatron-core's own or neutral."""
    for current in (cls, *src.base_classes(cls)):
        for base in current.node.bases:
            name = ast.unparse(base)
            if name in _NEUTRAL_BASES:
                continue
            if isinstance(base, ast.Name) and src.resolve_class(current.module, name) is not None:
                continue
            return False
    return True


def _is_module(cls: src.ClassRef) -> bool:
    return any(
        ast.unparse(base) in ("Module", "torch.nn.Module")
        for current in (cls, *src.base_classes(cls))
        for base in current.node.bases
    )


def _method(cls: src.ClassRef, name: str) -> tuple[src.ClassRef, ast.FunctionDef] | None:
    for current in (cls, *src.base_classes(cls)):
        for stmt in current.node.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == name:
                return current, stmt
    return None


def constructor(dotted: str) -> Signature | str | None:
    """The signature that builds `dotted`; a reason string when it cannot be read; None when
    `dotted` does not exist upstream."""
    module, _, name = dotted.rpartition(".")
    cls = src.resolve_class(module, name)
    if cls is None:
        function = src.resolve_function(module, name)
        if function is None:
            return None
        return _signature(function[0], function[1], method=False)
    for special in ("__new__", "__init__"):
        for current in (cls, *src.base_classes(cls)):
            found = next(
                (
                    s
                    for s in current.node.body
                    if isinstance(s, ast.FunctionDef) and s.name == special
                ),
                None,
            )
            if found is not None:
                return _signature(current.path, found, method=True)
    if _chain_is_known(cls):
        return Signature(cls.path, cls.node.lineno, (), frozenset(), frozenset(), False, False)
    return f"its constructor is inherited from outside megatron-core ({_base_names(cls)})"


def _passed(builder: Builder, implementation: Implementation) -> tuple[list[str], set[str]]:
    """(positional argument names in order, keyword names) the adapter passes."""
    positional: list[str] = []
    keywords: set[str] = set()
    kinds = {p.name: p.kind for p in builder.parameters}
    mappings = {m.parameter: m for m in implementation.mappings}
    for parameter in builder.parameters:
        mapping = mappings.get(parameter.name)
        if mapping is None or mapping.kind is MappingKind.DROP:
            continue
        if mapping.kind is MappingKind.PASS:
            if kinds[parameter.name] is ParameterKind.POSITIONAL:
                positional.append(parameter.name)
            else:
                keywords.add(parameter.name)
        else:  # RENAME: (new name, parameter); DERIVE: (argument, expression)
            keywords.update(target for target, _ in mapping.targets)
    keywords.update(p.name for p in implementation.fixed)
    if implementation.submodules is not None:
        keywords.add(implementation.submodules.argument)
    return positional, keywords


def _slots_by_builder(catalog: Catalog) -> dict[str, list[str]]:
    """The described slots that still exist upstream, per Builder they accept (a removed slot or
    Submodules class is reported once as such, not again for each of its implementations)."""
    existing = {slot.key for slot in src.upstream_slots()}
    users: dict[str, list[str]] = {}
    for item in described_slots(catalog):
        ref = src.resolve_dotted(item.submodules)
        if ref is None or f"{ref.qualname}.{item.slot.name}" not in existing:
            continue
        for builder in item.slot.builders:
            users.setdefault(builder, []).append(item.label)
    return users


def _labels(users: dict[str, list[str]], builder: str) -> list[str]:
    """The slots a Builder fills (drift of a shared Builder is reported for each of them)."""
    return sorted(set(users.get(builder, [])))


def implementations(catalog: Catalog) -> Iterator[Drift]:
    """Each adapter's call against its implementation's constructor."""
    users = _slots_by_builder(catalog)
    for adapter in sorted(catalog.adapters.values(), key=lambda a: a.name):
        builder, implementation = adapter.builder, adapter.implementation
        dotted = adapter.description.import_map().get(implementation.object, implementation.object)
        if not dotted.startswith("megatron.core."):
            continue
        if implementation.kind is ImplementationKind.UNBUILT:
            continue  # build_module returns the function itself; its signature is not called
        signature = constructor(dotted)
        for label in _labels(users, builder.name):
            if signature is None:
                yield Drift(
                    label,
                    "implementation-missing",
                    f"{builder.name}: {dotted} no longer exists",
                    adapter.description.file,
                    0,
                )
            elif not isinstance(signature, str):
                yield from _accepts(label, builder, implementation, signature)


def _accepts(
    label: str, builder: Builder, implementation: Implementation, signature: Signature
) -> Iterator[Drift]:
    positional, keywords = _passed(builder, implementation)
    file, line = src.relative(signature.path), signature.line
    name = implementation.object
    problems: list[str] = []
    if len(positional) > len(signature.positional) and not signature.var_positional:
        problems.append(
            f"takes {len(signature.positional)} positional parameters, "
            f"{len(positional)} are passed ({', '.join(positional)})"
        )
    by_position = set(signature.positional[: len(positional)])
    lacking = sorted(k for k in keywords if k not in signature.keyword)
    if lacking and not signature.var_keyword:
        problems.append(f"does not accept {', '.join(lacking)}")
    unpassed = sorted(signature.required - by_position - keywords)
    if unpassed:
        problems.append(f"requires {', '.join(unpassed)}, which {builder.name} does not pass")
    for problem in problems:
        yield Drift(label, "implementation-signature", f"{name} {problem}", file, line)


def interface_methods(catalog: Catalog) -> Iterator[Drift]:
    """Methods of each Builder's Interface that an implementation no longer defines."""
    users = _slots_by_builder(catalog)
    for adapter in sorted(catalog.adapters.values(), key=lambda a: a.name):
        builder, implementation = adapter.builder, adapter.implementation
        interface = catalog.interfaces.get(builder.returns)
        if interface is None:
            continue
        dotted = adapter.description.import_map().get(implementation.object, implementation.object)
        module, _, name = dotted.rpartition(".")
        cls = src.resolve_class(module, name) if dotted.startswith("megatron.core.") else None
        if cls is None or not _chain_is_known(cls) or _method(cls, "__new__") is not None:
            continue  # a `__new__` returns some other object (TENorm, WrappedTorchNorm)
        for method in interface[0].methods:
            if method.name == "__call__" and _is_module(cls):
                continue  # torch.nn.Module.__call__ runs forward
            if _method(cls, method.name) is not None:
                continue
            for label in _labels(users, builder.name):
                yield Drift(
                    label,
                    "interface-method",
                    f"{implementation.object} has no {method.name}() "
                    f"({interface[0].name} requires it)",
                    src.relative(cls.path),
                    cls.node.lineno,
                )


def protocols(catalog: Catalog) -> Iterator[Drift]:
    """Upstream Protocols a Builder or Interface is paired with that no longer exist."""
    users = _slots_by_builder(catalog)
    interface_users: dict[str, list[str]] = {}
    for builder, _ in catalog.builders.values():
        interface_users.setdefault(builder.returns, []).extend(users.get(builder.name, []))
    paired = [
        (b.name, b.upstream, users.get(b.name, []), d.file) for b, d in catalog.builders.values()
    ] + [
        (i.name, i.upstream, interface_users.get(i.name, []), d.file)
        for i, d in catalog.interfaces.values()
    ]
    for name, upstream, slots, file in sorted(paired, key=lambda p: p[0]):
        if upstream is None or src.resolve_dotted(upstream.object) is not None:
            continue
        for label in sorted(set(slots)):
            yield Drift(
                label,
                "protocol-removed",
                f"{name} is paired with {upstream.object}, which no longer exists",
                file,
                0,
            )
