"""Stage 2 (lifted slots): submodules a parent's `__init__` hard-codes, described as slots.

A parent may build a submodule itself (HybridStack's `TENorm` final norm) instead of from its
spec. A description lifts it: the generator emits a Submodules subclass with the lifted fields
and a thin subclass of the parent that stops the parent building them (`disabled_by`) and
builds them from the Submodules instead, under upstream's attribute name, in upstream's order.
"""

from dataclasses import dataclass
from typing import Any

from generator.model_base import Location, Locator, Parameter, build_parameters


@dataclass(frozen=True)
class Disabling:
    """How the subclass stops the parent building a lifted slot: it passes `argument=value` to
    the parent's `__init__`, then restores `self.<attribute> = <argument>`."""

    argument: str
    value: str
    attribute: str


@dataclass(frozen=True)
class LiftedSlot:
    name: str  # upstream's attribute name, and the new Submodules field
    builder: str
    doc: str
    default: str  # adapter of upstream's hard-coded class
    when: str  # condition over `self` and the __init__ parameters
    arguments: tuple[tuple[str, str], ...]  # builder parameter -> value expression
    disabled_by: Disabling
    location: Location


@dataclass(frozen=True)
class Lifted:
    """The lifted slots of one parent, with the parent's `__init__` signature mirrored."""

    doc: str
    parameters: tuple[Parameter, ...]
    unchecked: tuple[tuple[str, str], ...]  # parameter -> why it is passed with a suppression
    slots: tuple[LiftedSlot, ...]
    location: Location

    @property
    def parameter_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parameters)


def build_lifted(data: dict[str, Any], at: Locator) -> Lifted:
    """The model of a parent's `lifted` part, found at `at`."""
    return Lifted(
        doc=data["doc"],
        parameters=build_parameters(data["parameters"], at("parameters")),
        unchecked=tuple(data.get("unchecked_arguments", {}).items()),
        slots=tuple(
            LiftedSlot(
                name=item["name"],
                builder=item["builder"],
                doc=item["doc"],
                default=item["default"],
                when=item["when"],
                arguments=tuple(item["arguments"].items()),
                disabled_by=Disabling(
                    item["disabled_by"]["argument"],
                    item["disabled_by"]["value"],
                    item["disabled_by"]["attribute"],
                ),
                location=at("slots", i).location,
            )
            for i, item in enumerate(data["slots"])
        ),
        location=at.location,
    )
