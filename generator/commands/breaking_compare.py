"""Every change between two validated catalogs, each classified by a rule of breaking_rules.

Elements are matched by name: Builders, Interfaces and adapters by their generated name, parents
by class path, slots by field name, spec factories and values by module and name, parameters by
name (a removed and an added parameter at the same position with the same type are a rename).
A removed element is located in the old version, everything else in the new one.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from generator.model import Description, Location, Parameter, ParameterKind, SpecFactory
from generator.validate_contracts import Catalog

from generator.commands.breaking_types import Order, compare_types


@dataclass(frozen=True)
class Change:
    rule: str
    file: str
    pointer: str
    old: bool  # located in the old version (the ref), else in the working tree
    detail: str


def _at(location: Location, detail: str, rule: str, old: bool = False) -> Change:
    return Change(rule, location.file, location.pointer, old, detail)


def compare(old: Catalog, new: Catalog) -> list[Change]:
    changes = [
        *_interfaces(old, new),
        *_builders(old, new),
        *_adapters(old, new),
        *_parents(old, new),
        *_factories(old, new),
        *_values(old, new),
    ]
    return sorted(changes, key=lambda c: (c.file, c.pointer, c.rule))


def _doc(old: str | None, new: str | None, location: Location, what: str) -> Iterator[Change]:
    if (old or "") != (new or ""):
        yield _at(location, f"doc of {what} changed", "DOC_CHANGED")


# -- interfaces -------------------------------------------------------------------------------


def _interfaces(old: Catalog, new: Catalog) -> Iterator[Change]:
    for name, (before, _) in old.interfaces.items():
        if name not in new.interfaces:
            yield _at(before.location, f"Interface {name} removed", "INTERFACE_REMOVED", True)
    for name, (after, _) in new.interfaces.items():
        found = old.interfaces.get(name)
        if found is None:
            yield _at(after.location, f"Interface {name} added", "INTERFACE_ADDED")
            continue
        before = found[0]
        yield from _doc(before.doc, after.doc, after.location, name)
        methods = {m.name: m for m in before.methods}
        for method in after.methods:
            previous = methods.pop(method.name, None)
            what = f"{name}.{method.name}"
            if previous is None:
                yield _at(method.location, f"{what} added", "INTERFACE_METHOD_ADDED")
                continue
            yield from _doc(previous.doc, method.doc, method.location, what)
            signature = (_signature(previous.parameters, previous.returns),)
            now = (_signature(method.parameters, method.returns),)
            if signature != now:
                yield _at(
                    method.location,
                    f"{what}{signature[0]} -> {now[0]}",
                    "INTERFACE_METHOD_SIGNATURE_CHANGED",
                )
        for method in methods.values():
            yield _at(
                method.location, f"{name}.{method.name} removed", "INTERFACE_METHOD_REMOVED", True
            )
        attributes = {a.name: a for a in before.attributes}
        for attribute in after.attributes:
            previous = attributes.pop(attribute.name, None)
            what = f"{name}.{attribute.name}"
            if previous is None:
                yield _at(attribute.location, f"{what} added", "INTERFACE_ATTRIBUTE_ADDED")
                continue
            yield from _doc(previous.doc, attribute.doc, attribute.location, what)
            if compare_types(previous.type, attribute.type) is not Order.SAME:
                yield _at(
                    attribute.location,
                    f"{what}: {previous.type} -> {attribute.type}",
                    "INTERFACE_ATTRIBUTE_TYPE_CHANGED",
                )
        for attribute in attributes.values():
            yield _at(
                attribute.location,
                f"{name}.{attribute.name} removed",
                "INTERFACE_ATTRIBUTE_REMOVED",
                True,
            )


def _signature(parameters: tuple[Parameter, ...], returns: str) -> str:
    shown: list[str] = []
    for parameter in parameters:
        text = f"{parameter.name}: {parameter.type}"
        if parameter.default is not None:
            text += f" = {parameter.default}"
        if parameter.kind is ParameterKind.POSITIONAL:
            text += " (positional)"
        elif parameter.kind is ParameterKind.KEYWORD:
            text += " (keyword)"
        shown.append(text)
    return f"({', '.join(shown)}) -> {returns}"


# -- builders and adapters --------------------------------------------------------------------


def _builders(old: Catalog, new: Catalog) -> Iterator[Change]:
    for name, (before, _) in old.builders.items():
        if name not in new.builders:
            yield _at(before.location, f"Builder {name} removed", "BUILDER_REMOVED", True)
    for name, (after, _) in new.builders.items():
        found = old.builders.get(name)
        if found is None:
            yield _at(after.location, f"Builder {name} added", "BUILDER_ADDED")
            continue
        before = found[0]
        yield from _doc(before.doc, after.doc, after.location, name)
        if before.returns != after.returns:
            yield _at(
                after.location,
                f"{name} returns {after.returns} (was {before.returns})",
                "BUILDER_RETURNS_CHANGED",
            )
        if before.construction is not after.construction:
            yield _at(
                after.location,
                f"{name} is built by {after.construction.value} (was {before.construction.value})",
                "BUILDER_CONSTRUCTION_CHANGED",
            )
        yield from _parameters("BUILDER", name, before.parameters, after.parameters)


def _adapters(old: Catalog, new: Catalog) -> Iterator[Change]:
    for name, adapter in old.adapters.items():
        if name not in new.adapters:
            detail = f"{name} ({adapter.implementation.object} for {adapter.builder.name}) removed"
            yield _at(adapter.implementation.location, detail, "ADAPTER_REMOVED", True)
    for name, adapter in new.adapters.items():
        previous = old.adapters.get(name)
        location = adapter.implementation.location
        if previous is None:
            detail = f"{name} ({adapter.implementation.object} for {adapter.builder.name}) added"
            yield _at(location, detail, "ADAPTER_ADDED")
        else:
            yield from _doc(previous.implementation.doc, adapter.implementation.doc, location, name)


# -- parameters (Builders and spec factories) -------------------------------------------------


def _parameters(
    owner: str, name: str, old: tuple[Parameter, ...], new: tuple[Parameter, ...]
) -> Iterator[Change]:
    """Changes of one parameter list; `owner` prefixes the rule IDs (BUILDER / FACTORY)."""
    rule = f"{owner}_PARAMETER_"
    old_names = {p.name: i for i, p in enumerate(old)}
    new_names = {p.name: i for i, p in enumerate(new)}
    renames = _renames(old, new)
    for index, parameter in enumerate(new):
        if parameter.name in renames.values():
            previous = old[index].name
            yield _at(
                parameter.location,
                f"{name}: {previous} renamed to {parameter.name} (position {index})",
                rule + "RENAMED",
            )
    for parameter in old:
        if parameter.name not in new_names and parameter.name not in renames:
            yield _at(
                parameter.location, f"{name}: {parameter.name} removed", rule + "REMOVED", True
            )
    renamed_to = set(renames.values())
    positional, positional_before = _common_positional(old, new)
    for parameter in new:
        what = f"{name}: {parameter.name}"
        if parameter.name in renamed_to:
            continue
        index = old_names.get(parameter.name)
        if index is None:
            if parameter.default is None:
                yield _at(
                    parameter.location, f"{what} added without default", rule + "ADDED_REQUIRED"
                )
            else:
                detail = f"{what} added with default {parameter.default}"
                yield _at(parameter.location, detail, rule + "ADDED_OPTIONAL")
            continue
        yield from _parameter(rule, what, old[index], parameter)
        if (
            parameter.name in positional
            and parameter.name in positional_before
            and positional.index(parameter.name) != positional_before.index(parameter.name)
        ):
            detail = (
                f"{what} moved from position {positional_before.index(parameter.name)} "
                f"to {positional.index(parameter.name)}"
            )
            yield _at(parameter.location, detail, rule + "MOVED")


def _renames(old: tuple[Parameter, ...], new: tuple[Parameter, ...]) -> dict[str, str]:
    """Old name -> new name: a parameter removed and one added at the same position, with the
    same type."""
    old_names = {p.name for p in old}
    new_names = {p.name for p in new}
    return {
        old[index].name: parameter.name
        for index, parameter in enumerate(new[: len(old)])
        if parameter.name not in old_names
        and old[index].name not in new_names
        and compare_types(old[index].type, parameter.type) is Order.SAME
    }


def _common_positional(
    old: tuple[Parameter, ...], new: tuple[Parameter, ...]
) -> tuple[list[str], list[str]]:
    """The positional parameters both versions have (renames followed), in each one's order:
    a parameter moved only because another was added or removed is not reported."""
    renames = _renames(old, new)
    before = [renames.get(p.name, p.name) for p in old if p.kind is not ParameterKind.KEYWORD]
    after = [p.name for p in new if p.kind is not ParameterKind.KEYWORD]
    return [n for n in after if n in before], [n for n in before if n in after]


def _parameter(rule: str, what: str, before: Parameter, after: Parameter) -> Iterator[Change]:
    location = after.location
    yield from _doc(before.doc, after.doc, location, what)
    order = compare_types(before.type, after.type)
    if order is not Order.SAME:
        detail = f"{what}: {before.type} -> {after.type}"
        if order is Order.CHANGED:
            detail += " (not orderable from the text: treated as breaking)"
        yield _at(location, detail, rule + "TYPE_" + order.name)
    if before.kind is not after.kind:
        detail = f"{what}: {before.kind.value} -> {after.kind.value}"
        yield _at(location, detail, rule + "KIND_CHANGED")
    if before.default is not None and after.default is None:
        yield _at(location, f"{what}: default {before.default} removed", rule + "DEFAULT_REMOVED")
    elif before.default is None and after.default is not None:
        yield _at(location, f"{what}: default {after.default} added", rule + "DEFAULT_ADDED")
    elif before.default != after.default:
        detail = f"{what}: default {before.default} -> {after.default}"
        yield _at(location, detail, rule + "DEFAULT_CHANGED")


# -- parents and slots ------------------------------------------------------------------------


def _parents(old: Catalog, new: Catalog) -> Iterator[Change]:
    for path, (before, _) in old.parents.items():
        if path not in new.parents:
            yield _at(before.location, f"parent {path} removed", "PARENT_REMOVED", True)
    for path, (after, _) in new.parents.items():
        found = old.parents.get(path)
        if found is None:
            yield _at(after.location, f"parent {path} added", "PARENT_ADDED")
            continue
        slots = {slot.name: slot for slot in found[0].slots}
        for slot in after.slots:
            what = f"{after.submodules}.{slot.name}"
            previous = slots.pop(slot.name, None)
            if previous is None:
                if slot.default is None:
                    yield _at(slot.location, f"{what} added without default", "SLOT_ADDED_REQUIRED")
                else:
                    yield _at(slot.location, f"{what} added (default {slot.default})", "SLOT_ADDED")
                continue
            yield from _doc(previous.doc, slot.doc, slot.location, what)
            if previous.builder != slot.builder:
                detail = f"{what} takes {slot.builder} (was {previous.builder})"
                yield _at(slot.location, detail, "SLOT_BUILDER_CHANGED")
            if previous.default is not None and slot.default is None:
                detail = f"{what}: default {previous.default} removed"
                yield _at(slot.location, detail, "SLOT_MADE_REQUIRED")
            if previous.is_list != slot.is_list:
                shape = "a list" if slot.is_list else "one module"
                yield _at(slot.location, f"{what} is now {shape}", "SLOT_MULTIPLICITY_CHANGED")
        for slot in slots.values():
            detail = f"{found[0].submodules}.{slot.name} removed"
            yield _at(slot.location, detail, "SLOT_REMOVED", True)


# -- spec factories and values ----------------------------------------------------------------


def _factories(old: Catalog, new: Catalog) -> Iterator[Change]:
    before = _by_module(old.descriptions)
    after = _by_module(new.descriptions)
    for key, factory in before.items():
        if key not in after:
            yield _at(factory.location, f"{_dotted(key)} removed", "FACTORY_REMOVED", True)
    for key, factory in after.items():
        previous = before.get(key)
        name = _dotted(key)
        if previous is None:
            yield _at(factory.location, f"{name} added", "FACTORY_ADDED")
            continue
        yield from _doc(previous.doc, factory.doc, factory.location, name)
        if compare_types(previous.returns, factory.returns) is not Order.SAME:
            detail = f"{name} returns {factory.returns} (was {previous.returns})"
            yield _at(factory.location, detail, "FACTORY_RETURNS_CHANGED")
        yield from _parameters("FACTORY", name, previous.parameters, factory.parameters)


def _by_module(descriptions: tuple[Description, ...]) -> dict[tuple[str, str], SpecFactory]:
    return {(d.module, spec.name): spec for d in descriptions for spec in d.specs}


def _dotted(key: tuple[str, str]) -> str:
    return f"{key[0]}.{key[1]}"


def _values(old: Catalog, new: Catalog) -> Iterator[Change]:
    before = {(d.module, v.name): v for d in old.descriptions for v in d.values}
    after = {(d.module, v.name): v for d in new.descriptions for v in d.values}
    for key, value in before.items():
        if key not in after:
            yield _at(value.location, f"{_dotted(key)} removed", "VALUE_REMOVED", True)
    for key, value in after.items():
        previous = before.get(key)
        if previous is None:
            yield _at(value.location, f"{_dotted(key)} added", "VALUE_ADDED")
        else:
            yield from _doc(previous.doc, value.doc, value.location, _dotted(key))
