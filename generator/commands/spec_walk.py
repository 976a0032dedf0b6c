"""The module tree a spec value builds, with the contract of every slot: what the parent passes
(the slot's Builder), which adapter describes the implementation, and where each argument the
implementation receives comes from. Shared by `explain` and `conformance`.

The spec value is reduced with :func:`generator.spec_tree.normalize` (implementation, fixed
arguments, sub-slots); the raw value is walked beside it, to tell a generated adapter from an
upstream ``ModuleSpec``/``partial``/class (for an upstream value, the adapter that describes the
same implementation in the same slot is named instead).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from generator.model import Builder, MappingKind
from generator.spec_tree import Atom, Record, SpecList, SpecMap, SpecNode, Tree, normalize
from generator.validate import Adapter, Catalog

GENERATED_PACKAGE = "generated.megatron_core"
_SHORT_PREFIX = "megatron.core."


@dataclass(frozen=True)
class Origin:
    """Where one argument an implementation receives comes from.

    kind: "call site" (the parent passes it), "fixed" (the spec binds it), "derived" (the
    adapter computes it from a parameter), "renamed" (a parameter under another name),
    "dropped" (a parameter the parent passes that the implementation does not receive).
    """

    name: str
    kind: str
    detail: str
    conditional: bool = False


@dataclass(frozen=True)
class WalkNode:
    """One slot of the tree.

    adapter_kind: "generated" (the value is one of our adapters), "described" (an upstream
    value whose implementation an adapter of this slot's Builder describes), or "" (none).
    """

    slot: str
    implementation: str
    adapter: str
    adapter_kind: str
    builder: str
    construction: str
    parent: str
    origins: tuple[Origin, ...]
    children: tuple[WalkNode, ...]
    raw: object = dataclasses.field(compare=False, repr=False)
    tree: Tree = dataclasses.field(compare=False, repr=False)
    adapter_model: Adapter | None = dataclasses.field(compare=False, repr=False, default=None)
    builder_model: Builder | None = dataclasses.field(compare=False, repr=False, default=None)

    def walk(self) -> Iterator[WalkNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def short(name: str) -> str:
    return name.removeprefix(_SHORT_PREFIX)


def inline(tree: Tree) -> str:
    """A one-line rendering of a fixed argument's value."""
    match tree:
        case Atom():
            return tree.text
        case SpecNode():
            return short(tree.name)
        case Record():
            return short(tree.name) + "(...)"
        case SpecList():
            return "[" + ", ".join(inline(item) for item in tree.items) + "]"
        case SpecMap():
            return "{" + ", ".join(f"{key!r}: {inline(v)}" for key, v in tree.items) + "}"


def _implementation_object(adapter: Adapter) -> object:
    """The object an adapter's implementation names, as its generated module binds it."""
    name = adapter.implementation.object
    try:
        module = importlib.import_module(f"{GENERATED_PACKAGE}.{adapter.description.module}")
        if hasattr(module, name):
            return cast(object, getattr(module, name))
        dotted = adapter.description.import_map().get(name, name)
        path, _, attribute = dotted.rpartition(".")
        return cast(object, getattr(importlib.import_module(path), attribute))
    except (ImportError, AttributeError, ValueError):
        return _MISSING


_MISSING = object()


class Walker:
    """Walks spec values against a validated catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._objects: dict[str, object] = {}

    def adapter_object(self, adapter: Adapter) -> object:
        if adapter.name not in self._objects:
            self._objects[adapter.name] = _implementation_object(adapter)
        return self._objects[adapter.name]

    # ---------------------------------------------------------------- adapters and builders

    def generated_adapter(self, raw: object) -> Adapter | None:
        cls = type(raw)
        if not cls.__module__.startswith(GENERATED_PACKAGE + "."):
            return None
        return self.catalog.adapters.get(cls.__name__)

    def described_adapter(
        self, implementation: object, builders: tuple[str, ...]
    ) -> Adapter | None:
        if implementation is None:
            return None
        for adapter in self.catalog.adapters.values():
            if adapter.builder.name in builders and self.adapter_object(adapter) is implementation:
                return adapter
        return None

    def root_builders(self, implementation: object) -> tuple[str, tuple[str, ...]]:
        """(parent, builders) of the slots whose described implementations include
        ``implementation``; TransformerBlock's layer slot first."""
        found: list[tuple[str, tuple[str, ...]]] = []
        for path, (parent, _) in self.catalog.parents.items():
            for slot in parent.slots:
                for name in slot.builders:
                    entry = self.catalog.builders.get(name)
                    if entry is None:
                        continue
                    for adapter in self.catalog.adapters.values():
                        if (
                            adapter.builder.name == name
                            and self.adapter_object(adapter) is implementation
                        ):
                            found.append((f"{path}.{slot.name}", slot.builders))
        found.sort(key=lambda item: not item[0].endswith("TransformerBlock.layer_specs"))
        return found[0] if found else ("", ())

    def parent_for_record(self, cls: type) -> str:
        for path, (parent, _) in self.catalog.parents.items():
            if parent.submodules == cls.__name__ and path.rpartition(".")[0] == cls.__module__:
                return path
        return ""

    # ---------------------------------------------------------------- walking

    def walk(self, value: object) -> WalkNode:
        """The tree of a factory's result (a layer spec, a Submodules value, a list)."""
        tree = normalize(value)
        if isinstance(tree, SpecNode):
            adapter = self.generated_adapter(value)
            if adapter is not None:
                return self._node("(root)", value, tree, (adapter.builder.name,), "(caller)")
            parent, builders = self.root_builders(tree.implementation)
            return self._node("(root)", value, tree, builders, short(parent) or "(caller)")
        if isinstance(tree, Record):
            path = self.parent_for_record(cast(type, tree.type))
            children = self._slots(value, tree.fields, path)
            return WalkNode(
                "(root)",
                short(path) if path else short(tree.name),
                "",
                "",
                "",
                "",
                "(caller)",
                (),
                children,
                value,
                tree,
            )
        if isinstance(tree, SpecList):
            items = cast(list[object], value)
            _, builders = (
                self.root_builders(tree.items[0].implementation)
                if tree.items and isinstance(tree.items[0], SpecNode)
                else ("", ())
            )
            children = tuple(
                self._value(f"[{index}]", raw, item, builders, "(caller)")
                for index, (raw, item) in enumerate(zip(items, tree.items))
            )
            return WalkNode("(root)", "list", "", "", "", "", "(caller)", (), children, value, tree)
        return WalkNode("(root)", inline(tree), "", "", "", "", "(caller)", (), (), value, tree)

    def _value(
        self, label: str, raw: object, tree: Tree, builders: tuple[str, ...], parent: str
    ) -> WalkNode:
        if isinstance(tree, SpecNode):
            return self._node(label, raw, tree, builders, parent)
        if isinstance(tree, SpecList):
            items = cast(list[object], raw)
            children = tuple(
                self._value(f"{label}[{index}]", item_raw, item, builders, parent)
                for index, (item_raw, item) in enumerate(zip(items, tree.items))
            )
            return WalkNode(
                label,
                f"list of {len(children)}",
                "",
                "",
                ",".join(builders[:1]),
                "",
                parent,
                (),
                children,
                raw,
                tree,
            )
        text = "None (not built)" if tree == Atom("NoneType", "None") else inline(tree)
        return WalkNode(label, text, "", "", ",".join(builders[:1]), "", parent, (), (), raw, tree)

    def _node(
        self, label: str, raw: object, tree: SpecNode, builders: tuple[str, ...], parent: str
    ) -> WalkNode:
        adapter = self.generated_adapter(raw)
        kind = "generated"
        if adapter is None:
            adapter = self.described_adapter(tree.implementation, builders)
            kind = "described" if adapter is not None else ""
        builder: Builder | None = None
        if adapter is not None:
            builder = adapter.builder
        elif builders and builders[0] in self.catalog.builders:
            builder = self.catalog.builders[builders[0]][0]
        origins = _origins(builder, adapter, tree, parent)
        children = self._slots(_raw_submodules(raw), tree.slots, _qualified(tree))
        return WalkNode(
            label,
            short(tree.name),
            adapter.name if adapter is not None else "",
            kind,
            builder.name if builder is not None else "",
            builder.construction.value if builder is not None else "",
            parent,
            origins,
            children,
            raw,
            tree,
            adapter,
            builder,
        )

    def _slots(
        self, raw_submodules: object, slots: tuple[tuple[str, Tree], ...], parent_path: str
    ) -> tuple[WalkNode, ...]:
        entry = self.catalog.parents.get(parent_path)
        described = {slot.name: slot.builders for slot in entry[0].slots} if entry else {}
        children: list[WalkNode] = []
        for name, tree in slots:
            if described and name not in described:
                continue  # a plain field (sharded_state_dict_keys_map), not a slot
            if not described and not isinstance(tree, SpecNode | SpecList):
                continue
            raw = _field(raw_submodules, name)
            children.append(
                self._value(
                    name, raw, tree, described.get(name, ()), parent_path.rpartition(".")[2]
                )
            )
        return tuple(children)


def _qualified(tree: SpecNode) -> str:
    module = getattr(tree.implementation, "__module__", None)
    qualname = getattr(tree.implementation, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return tree.name


def _raw_submodules(raw: object) -> object:
    if isinstance(raw, functools.partial):
        keywords = cast("functools.partial[object]", raw).keywords
        return keywords.get("submodules")
    return cast(object, getattr(raw, "submodules", None))


def _field(submodules: object, name: str) -> object:
    if submodules is None:
        return None
    if dataclasses.is_dataclass(submodules) and not isinstance(submodules, type):
        return cast(object, getattr(submodules, name, None))
    return submodules


def _origins(
    builder: Builder | None, adapter: Adapter | None, tree: SpecNode, parent: str
) -> tuple[Origin, ...]:
    out: list[Origin] = []
    mappings = {m.parameter: m for m in adapter.implementation.mappings} if adapter else {}
    if builder is not None:
        for parameter in builder.parameters:
            mapping = mappings.get(parameter.name)
            conditional = parameter.conditionally_passed
            if mapping is None or mapping.kind is MappingKind.PASS:
                out.append(Origin(parameter.name, "call site", parent, conditional))
            elif mapping.kind is MappingKind.RENAME:
                for new, old in mapping.targets:
                    out.append(Origin(new, "renamed", f"{old} from {parent}", conditional))
            elif mapping.kind is MappingKind.DERIVE:
                for argument, expression in mapping.targets:
                    out.append(
                        Origin(argument, "derived", f"{expression} from {parent}", conditional)
                    )
            else:
                out.append(Origin(parameter.name, "dropped", f"passed by {parent}", conditional))
    for name, value in tree.arguments:
        out.append(Origin(name, "fixed", f"{inline(value)} by the spec"))
    if tree.submodules_type is not None or tree.slots:
        argument = "submodules"
        if adapter is not None and adapter.implementation.submodules is not None:
            argument = adapter.implementation.submodules.argument
        kind = getattr(tree.submodules_type, "__name__", "the sub-slots below")
        out.append(Origin(argument, "fixed", f"{kind} by the spec"))
    return tuple(out)


def load_catalog() -> Catalog:
    """The validated descriptions (raises DescriptionErrors)."""
    from generator.commands.paths import ROOT, SCHEMAS
    from generator.pipeline import validated_catalog

    return validated_catalog(SCHEMAS, ROOT)
