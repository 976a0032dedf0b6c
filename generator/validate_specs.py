"""Stage 3b: semantic checks of the spec factories, against the validated contracts."""

from collections.abc import Iterator

from generator.errors import DescriptionError
from generator.model import (
    AdapterValue,
    ChoiceValue,
    Description,
    Location,
    Parameter,
    SpecValue,
    SubmodulesValue,
)
from generator.validate_contracts import ContractChecker, error


class SpecChecker(ContractChecker):
    """Checks spec factories; runs only once the contracts are valid."""

    def check_specs(self) -> Iterator[DescriptionError]:
        """Spec factories, against the validated contracts."""
        for description in self.descriptions:
            for spec in description.specs:
                yield from self._check_parameters(description, spec.parameters)
                yield from self._check_submodules_value(
                    description, spec.submodules, spec.parameters
                )

    def _check_submodules_value(
        self, description: Description, value: SubmodulesValue, parameters: tuple[Parameter, ...]
    ) -> Iterator[DescriptionError]:
        qualified = description.import_map().get(value.parent)
        if qualified is None or qualified not in self.parents:
            yield error(
                value.location,
                f"{value.parent!r} is not a described parent",
                "import a parent class that has a description with `parent`",
            )
            return
        parent, _ = self.parents[qualified]
        slots = {slot.name: slot for slot in parent.slots}
        fields = {field.name for field in parent.fields}
        for field_name, _ in value.fields:
            if field_name not in fields:
                yield error(
                    value.location,
                    f"{parent.submodules} has no described field {field_name!r}",
                    f"use one of {sorted(fields)} or describe it under the parent's fields",
                )
        for slot_name, slot_value in value.slots:
            slot = slots.get(slot_name)
            if slot is None:
                yield error(
                    value.location,
                    f"{parent.submodules} has no slot {slot_name!r}",
                    f"use one of {sorted(slots)}",
                )
                continue
            yield from self._check_spec_value(
                description,
                slot_value,
                slot.builder,
                slot.optional,
                slot_name,
                parameters,
                value.location,
            )

    def _check_spec_value(
        self,
        description: Description,
        value: SpecValue,
        builder: str,
        optional: bool,
        slot: str,
        parameters: tuple[Parameter, ...],
        location: Location,
    ) -> Iterator[DescriptionError]:
        match value:
            case None:
                if not optional:
                    yield error(
                        location,
                        f"slot {slot!r} is not optional; it cannot be null",
                        "give it an adapter",
                    )
            case ChoiceValue():
                flags = {p.name for p in parameters if p.type == "bool"}
                if value.condition not in flags:
                    yield error(
                        value.location,
                        f"condition {value.condition!r} is not a bool parameter of the factory",
                        f"use one of {sorted(flags)}",
                    )
                yield from self._check_spec_value(
                    description, value.then, builder, optional, slot, parameters, value.location
                )
                yield from self._check_spec_value(
                    description,
                    value.otherwise,
                    builder,
                    optional,
                    slot,
                    parameters,
                    value.location,
                )
            case AdapterValue():
                yield from self._check_adapter_value(description, value, builder, slot, parameters)

    def _check_adapter_value(
        self,
        description: Description,
        value: AdapterValue,
        builder: str,
        slot: str,
        parameters: tuple[Parameter, ...],
    ) -> Iterator[DescriptionError]:
        adapter = self.adapters.get(value.adapter)
        if adapter is None or adapter.builder.name != builder:
            fitting = sorted(a.name for a in self.adapters.values() if a.builder.name == builder)
            yield error(
                value.location,
                f"{value.adapter!r} is not an adapter of {builder} (slot {slot!r})",
                f"use one of {fitting}",
            )
            return
        fixed = {p.name for p in adapter.implementation.fixed}
        for name, text in value.fixed:
            if name not in fixed:
                yield error(
                    value.location,
                    f"{adapter.name} has no fixed parameter {name!r}",
                    f"use one of {sorted(fixed)}",
                )
            yield from self._check_value(description, text, value.location)
        required = {p.name for p in adapter.implementation.fixed if p.default is None}
        for name in sorted(required - {n for n, _ in value.fixed}):
            yield error(
                value.location,
                f"{adapter.name} needs fixed parameter {name!r}",
                f'add "fixed": {{"{name}": ...}}',
            )
        takes_submodules = adapter.implementation.submodules is not None
        if takes_submodules != (value.submodules is not None):
            yield error(
                value.location,
                f"{adapter.name} {'takes' if takes_submodules else 'takes no'} submodules",
                'add or remove "submodules"',
            )
        if value.submodules is not None and adapter.implementation.submodules is not None:
            expected = adapter.description.import_map().get(adapter.implementation.submodules.type)
            qualified = description.import_map().get(value.submodules.parent)
            parent = self.parents.get(qualified or "")
            if parent is not None and parent[1].import_map().get(parent[0].submodules) != expected:
                yield error(
                    value.submodules.location,
                    f"{adapter.name} takes {adapter.implementation.submodules.type}, not the submodules of {value.submodules.parent}",
                    "name the parent whose Submodules the implementation takes",
                )
            yield from self._check_submodules_value(description, value.submodules, parameters)
