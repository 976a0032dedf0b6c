"""Stage 3a (lifted slots): checks of a parent's `lifted` part (see generator/model_lifted.py).

Every expression is checked with `ast` (generator/expressions.py) and may use only `self` and
the mirrored `__init__` parameters; every Builder parameter gets exactly one value; the default
is an adapter of the same Builder that the spec can create without arguments.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

from generator import naming
from generator.errors import DescriptionError
from generator.expressions import (
    ExpressionError,
    check_condition_expression,
    check_value_expression,
)
from generator.model import Location, Parent
from generator.model_lifted import Lifted, LiftedSlot

if TYPE_CHECKING:
    from generator.validate_contracts import ContractChecker


def _error(location: Location, message: str, fix: str) -> DescriptionError:
    return DescriptionError(location.file, location.pointer, message, fix)


def lifted_names(parent: Parent) -> tuple[str, ...]:
    """The names a parent's lifted slots generate: Submodules subclass, its constructor, class."""
    if parent.lifted is None:
        return ()
    submodules = naming.lifted_submodules_name(parent.class_name)
    return (
        submodules,
        naming.submodules_constructor_name(submodules),
        naming.lifted_class_name(parent.class_name),
    )


def check_lifted(
    checker: "ContractChecker", parent: Parent, lifted: Lifted
) -> Iterator[DescriptionError]:
    """Checks what the contract checker does not (it checks the parameters themselves)."""
    names = lifted.parameter_names
    if "submodules" not in names:
        yield _error(
            lifted.location,
            f"the mirrored {parent.class_name}.__init__ has no `submodules` parameter",
            "list upstream's parameters, `submodules` included",
        )
    for name, _ in lifted.unchecked:
        if name not in names:
            yield _error(
                lifted.location,
                f"unchecked argument {name!r} is not a parameter",
                "name a parameter of the mirrored __init__",
            )
    taken = {s.name for s in parent.slots} | {f.name for f in parent.fields}
    for slot in lifted.slots:
        if slot.name in taken:
            yield _error(
                slot.location,
                f"lifted slot {slot.name!r} is already a field of {parent.submodules}",
                "use upstream's attribute name, which no Submodules field has",
            )
        taken.add(slot.name)
        yield from _check_slot(checker, slot, names)


def _check_slot(
    checker: "ContractChecker", slot: LiftedSlot, names: frozenset[str]
) -> Iterator[DescriptionError]:
    found = checker.builders.get(slot.builder)
    if found is None:
        yield _error(
            slot.location,
            f"lifted slot {slot.name!r} uses unknown builder {slot.builder!r}",
            "describe that builder or name an existing one",
        )
        return
    builder = found[0]
    adapter = checker.adapters.get(slot.default)
    if adapter is None or adapter.builder.name != builder.name:
        yield _error(
            slot.location,
            f"default {slot.default!r} is not an adapter of {builder.name}",
            f"name the {builder.name} adapter of the class upstream hard-codes "
            "(e.g. LayerNormFromTENorm)",
        )
    elif adapter.implementation.submodules is not None or any(
        p.default is None for p in adapter.implementation.fixed
    ):
        yield _error(
            slot.location,
            f"default {slot.default!r} needs arguments",
            "name an adapter whose fields all have defaults",
        )
    local = names | {"self"}
    try:
        used = check_condition_expression(slot.when).names
    except ExpressionError as problem:
        yield _error(slot.location, f"when: {problem}", "write a condition over self.<attribute>")
        used = frozenset[str]()
    for name in sorted(used - local):
        yield _error(
            slot.location,
            f"when: unknown name {name!r} in {slot.when!r}",
            "use only `self` and the __init__ parameters",
        )
    given = {name for name, _ in slot.arguments}
    expected = {p.name for p in builder.parameters}
    for name in sorted(expected - given):
        yield _error(
            slot.location,
            f"arguments: {builder.name} parameter {name!r} has no value",
            "give every Builder parameter the value upstream passes",
        )
    for name in sorted(given - expected):
        yield _error(
            slot.location,
            f"arguments: {name!r} is not a parameter of {builder.name}",
            f"use {builder.name}'s parameters: {', '.join(sorted(expected))}",
        )
    for name, value in slot.arguments:
        yield from _check_local_value(slot.location, f"arguments/{name}", value, local)
    disabling = slot.disabled_by
    if disabling.argument not in names:
        yield _error(
            slot.location,
            f"disabled_by: {disabling.argument!r} is not a parameter of the mirrored __init__",
            "name the parameter that stops the parent building it",
        )
    yield from _check_local_value(slot.location, "disabled_by/value", disabling.value, local)


def _check_local_value(
    location: Location, where: str, text: str, local: frozenset[str]
) -> Iterator[DescriptionError]:
    try:
        used = check_value_expression(text).names
    except ExpressionError as problem:
        yield _error(location, f"{where}: {problem}", "write a literal or self.<attribute>")
        return
    for name in sorted(used - local):
        yield _error(
            location,
            f"{where}: unknown name {name!r} in {text!r}",
            "use only `self` and the __init__ parameters",
        )
