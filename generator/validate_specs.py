"""Stage 3b: semantic checks of the spec factories, against the validated contracts.

A factory's body is a tree of spec values. Where a value fills a slot, it must fit the slot
(an adapter of the slot's Builder, None only where the slot is optional, a list for a list
slot); everywhere else pyright checks the generated code's types. Names in expressions must be
imports or the factory's parameters; calls must name a generated factory or a run-time helper.
"""

from collections.abc import Iterator
import difflib
from dataclasses import dataclass

from generator import naming
from generator.errors import DescriptionError
from generator.expressions import ExpressionError, check_condition_expression
from generator.model import (
    AdapterValue,
    CallValue,
    ChoiceValue,
    Description,
    ExpressionValue,
    ListValue,
    Location,
    ModuleValue,
    Parent,
    ProvidedValue,
    RoleValue,
    SpecFactory,
    SpecValue,
    SubmodulesValue,
)
from generator.validate_contracts import error, find_parent
from generator.validate_providers import ProviderChecker
from generator.validate_providers import SlotContext as _SlotContext


@dataclass(frozen=True)
class _Scope:
    """What a spec value is checked against: its description and the factory's parameters."""

    description: Description
    parameters: frozenset[str]


def _submodules_path(found: tuple[Parent, Description, bool]) -> str | None:
    """The qualified Submodules dataclass a found parent takes (the lifted subclass's if lifted)."""
    parent, description, lifted = found
    if lifted:
        return f"{description.qualified_module}.{naming.lifted_submodules_name(parent.class_name)}"
    return description.import_map().get(parent.submodules)


class SpecChecker(ProviderChecker):
    """Checks spec factories; runs only once the contracts are valid."""

    def __init__(self, descriptions: list[Description]) -> None:
        super().__init__(descriptions)
        self.factories: dict[str, SpecFactory] = {}
        self.values: dict[str, ModuleValue] = {}

    def check_specs(self) -> Iterator[DescriptionError]:
        """Roles, providers and spec factories, against the validated contracts."""
        yield from self.index_providers()
        yield from self.check_roles()
        yield from self.check_provider_shape()
        for description in self.descriptions:
            for spec in description.specs:
                yield from self._claim(spec.name, spec.location, "spec factory")
                if spec.name in naming.SUPPORT_FUNCTIONS:
                    yield error(
                        spec.location,
                        f"factory {spec.name!r} has the name of a run-time helper of "
                        f"{naming.PACKAGE}.{naming.SUPPORT_MODULE}",
                        "give the factory another name",
                    )
                self.factories.setdefault(spec.name, spec)
        for description in self.descriptions:
            for spec in description.specs:
                yield from self._check_parameters(description, spec.parameters)
                yield from self._check_type(description, spec.returns, spec.location)
                yield from self._check_body(description, spec, None)
        if self.providers is not None:
            providers, description = self.providers
            for provider in providers.classes:
                for body in provider.methods:
                    method = self.provider_method(body.name)
                    context = self.method_context(method) if method is not None else None
                    yield from self._check_body(description, body, context)
        for description in self.descriptions:
            for value in description.values:
                yield from self._check_module_value(description, value)

    def _check_body(
        self, description: Description, spec: SpecFactory, context: _SlotContext | None
    ) -> Iterator[DescriptionError]:
        """Checks, derived values and the body of a factory or provider method."""
        scope = _Scope(description, frozenset(p.name for p in spec.parameters))
        for check in spec.checks:
            yield from self._check_condition(scope, check.condition, check.location)
        for name, value in spec.lets:
            yield from self._check_spec_value(scope, value, None, spec.location)
            taken = scope.parameters | naming.SUPPORT_FUNCTIONS | set(self.factories)
            if name in taken or name in description.import_map():
                yield error(
                    spec.location,
                    f"derived value {name!r} shadows a parameter, import, factory or helper",
                    "give it another name",
                )
            scope = _Scope(description, scope.parameters | {name})
        yield from self._check_spec_value(scope, spec.body, context, spec.location)

    def _check_module_value(
        self, description: Description, value: ModuleValue
    ) -> Iterator[DescriptionError]:
        yield from self._claim(value.name, value.location, "module-level value")
        if value.name in naming.SUPPORT_FUNCTIONS | set(description.import_map()):
            yield error(
                value.location,
                f"value {value.name!r} shadows an import or a run-time helper",
                "give it another name",
            )
        self.values.setdefault(value.name, value)
        factory = self.factories.get(value.factory)
        if factory is None or factory not in description.specs:
            yield error(
                value.location,
                f"value {value.name!r} names {value.factory!r}, which is not a factory of this file",
                f"use one of {sorted(spec.name for spec in description.specs)}",
            )
            return
        required = [p.name for p in factory.parameters if p.default is None]
        if required:
            yield error(
                value.location,
                f"value {value.name!r}: factory {factory.name!r} needs arguments {required}",
                "name a factory whose parameters all have defaults",
            )

    def _check_condition(
        self, scope: _Scope, text: str, location: Location
    ) -> Iterator[DescriptionError]:
        try:
            checked = check_condition_expression(text, naming.SUPPORT_PREDICATES)
        except ExpressionError as problem:
            yield error(
                location,
                str(problem),
                "compare parameters (and their attributes) with literals using not/and/or",
            )
            return
        known = scope.parameters | set(scope.description.import_map()) | naming.SUPPORT_PREDICATES
        for name in sorted(checked.names - known):
            yield error(
                location,
                f"unknown name {name!r} in condition {text!r}",
                f"use the factory's parameters {sorted(scope.parameters)} or an import",
            )

    def _check_spec_value(
        self,
        scope: _Scope,
        value: SpecValue,
        slot: _SlotContext | None,
        location: Location,
    ) -> Iterator[DescriptionError]:
        if slot is not None and slot.is_list and isinstance(value, AdapterValue):
            yield error(
                value.location,
                f"slot {slot.name!r} holds a list",
                'give a {"list": [...]} or a call that returns one',
            )
            return
        match value:
            case None:
                if slot is not None and not slot.optional:
                    yield error(
                        location,
                        f"slot {slot.name!r} is not optional; it cannot be null",
                        "give it an adapter",
                    )
            case ChoiceValue():
                yield from self._check_condition(scope, value.condition, value.location)
                for branch in (value.then, value.otherwise):
                    yield from self._check_spec_value(scope, branch, slot, value.location)
            case AdapterValue():
                yield from self._check_adapter_value(scope, value, slot)
            case SubmodulesValue():
                yield from self._check_submodules_value(scope, value)
            case CallValue():
                yield from self._check_call(scope, value)
            case ExpressionValue():
                yield from self._check_value(
                    scope.description, value.text, value.location, scope.parameters
                )
            case RoleValue():
                yield from self._check_role_value(scope, value, slot)
            case ProvidedValue():
                yield from self._check_provided_value(scope, value, slot)
            case ListValue():
                item_slot = None
                if slot is not None:
                    item_slot = _SlotContext(slot.name, slot.builders, False, False)
                for item in value.items:
                    yield from self._check_spec_value(scope, item, item_slot, value.location)

    def _check_call(self, scope: _Scope, value: CallValue) -> Iterator[DescriptionError]:
        factory = self.factories.get(value.target)
        if self.is_provider_class(value.target):
            if value.arguments:
                yield error(
                    value.location,
                    f"{value.target} takes no arguments",
                    "construct the typed provider without arguments",
                )
        elif self.is_provider_function(value.target):
            given = frozenset(name for name, _ in value.arguments)
            if given != self.provider_function_parameters():
                yield error(
                    value.location,
                    f"{value.target} takes exactly {sorted(self.provider_function_parameters())}",
                    "pass backend",
                )
        elif factory is None and value.target not in naming.SUPPORT_FUNCTIONS:
            yield error(
                value.location,
                f"{value.target!r} is neither a spec factory nor a run-time helper (nor a typed provider)",
                f"call one of {sorted(self.factories)} or {sorted(naming.SUPPORT_FUNCTIONS)}",
            )
            return
        if factory is not None:
            accepted = {p.name for p in factory.parameters}
            required = {p.name for p in factory.parameters if p.default is None}
            given = {name for name, _ in value.arguments}
            for name in sorted(given - accepted):
                yield error(
                    value.location,
                    f"{value.target} has no parameter {name!r}",
                    f"use one of {sorted(accepted)}",
                )
            for name in sorted(required - given):
                yield error(value.location, f"{value.target} needs argument {name!r}", "pass it")
        for _, argument in value.arguments:
            if isinstance(argument, str):
                yield from self._check_value(
                    scope.description, argument, value.location, scope.parameters
                )
            else:
                yield from self._check_spec_value(scope, argument, None, value.location)

    def _check_submodules_value(
        self, scope: _Scope, value: SubmodulesValue
    ) -> Iterator[DescriptionError]:
        found = find_parent(self.parents, scope.description.import_map().get(value.parent))
        if found is None:
            yield error(
                value.location,
                f"{value.parent!r} is not a described parent",
                "import a parent class that has a description with `parent` (or its lifted subclass)",
            )
            return
        parent, owner, lifted = found
        slots = {
            slot.name: _SlotContext(slot.name, slot.builders, slot.optional, slot.is_list)
            for slot in parent.slots
        }
        if lifted and parent.lifted is not None:
            for item in parent.lifted.slots:
                slots[item.name] = _SlotContext(item.name, (item.builder,), False, False)
        fields = {field.name for field in parent.fields}
        for field_name, _ in value.fields:
            if field_name not in fields:
                yield error(
                    value.location,
                    f"{parent.submodules} has no described field {field_name!r}",
                    f"use one of {sorted(fields)} or describe it under the parent's fields",
                )
        for slot_name, slot_value in value.slots:
            context = slots.get(slot_name)
            if context is None:
                yield error(
                    value.location,
                    f"{parent.submodules} has no slot {slot_name!r} (its slots are described in "
                    f"{owner.file} at {parent.location.pointer})",
                    f"use one of {sorted(slots)}",
                )
                continue
            yield from self._check_spec_value(scope, slot_value, context, value.location)

    def _check_adapter_value(
        self, scope: _Scope, value: AdapterValue, slot: _SlotContext | None
    ) -> Iterator[DescriptionError]:
        adapter = self.adapters.get(value.adapter)
        if adapter is None or (slot is not None and adapter.builder.name not in slot.builders):
            builders = slot.builders if slot is not None else ()
            fitting = sorted(
                a.name for a in self.adapters.values() if not builders or a.builder.name in builders
            )
            where = f" (slot {slot.name!r})" if slot is not None else ""
            expected = " or ".join(builders) or "any builder"
            if adapter is None:
                close = difflib.get_close_matches(value.adapter, self.adapters, n=3)
                known = f"; no description generates it (did you mean {' or '.join(close)}?)"
                known = known if close else "; no description generates it"
            else:
                at = adapter.implementation.location
                known = f": it is a {adapter.builder.name}, described in {at.file} at {at.pointer}"
            yield error(
                value.location,
                f"{value.adapter!r} is not an adapter of {expected}{where}{known}",
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
            yield from self._check_value(scope.description, text, value.location, scope.parameters)
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
        if not isinstance(value.submodules, SubmodulesValue):
            yield from self._check_spec_value(scope, value.submodules, None, value.location)
        elif adapter.implementation.submodules is not None:
            expected = adapter.description.import_map().get(adapter.implementation.submodules.type)
            parent = find_parent(
                self.parents, scope.description.import_map().get(value.submodules.parent)
            )
            if parent is not None and _submodules_path(parent) != expected:
                yield error(
                    value.submodules.location,
                    f"{adapter.name} takes {adapter.implementation.submodules.type}, not the submodules of {value.submodules.parent}",
                    "name the parent whose Submodules the implementation takes",
                )
            yield from self._check_submodules_value(scope, value.submodules)

    def _check_role_value(
        self, scope: _Scope, value: RoleValue, slot: _SlotContext | None
    ) -> Iterator[DescriptionError]:
        found = self.roles.get(value.role)
        if found is None:
            yield error(
                value.location, f"unknown role {value.role!r}", f"use one of {sorted(self.roles)}"
            )
            return
        if slot is not None:
            yield error(
                value.location,
                f"a role record cannot fill slot {slot.name!r}",
                "give one of its fields (a provided value with `field`)",
            )
        role = found[0]
        fields = {f.name: f for f in role.fields}
        given = [name for name, _ in value.fields]
        for name in sorted(set(fields) - set(given)):
            yield error(value.location, f"{role.name} needs field {name!r}", "give its value")
        for name, field_value in value.fields:
            field = fields.get(name)
            if field is None:
                yield error(
                    value.location,
                    f"{role.name} has no field {name!r}",
                    f"use one of {sorted(fields)}",
                )
                continue
            context = _SlotContext(f"{role.name}.{name}", (field.builder,), False, False)
            yield from self._check_spec_value(scope, field_value, context, value.location)

    def _check_provided_value(
        self, scope: _Scope, value: ProvidedValue, slot: _SlotContext | None
    ) -> Iterator[DescriptionError]:
        yield from self._check_value(scope.description, value.by, value.location, scope.parameters)
        for _, text in value.arguments:
            yield from self._check_value(scope.description, text, value.location, scope.parameters)
        method = self.provider_method(value.method)
        if method is None:
            yield error(
                value.location,
                f"{value.method!r} is not a method of the provider Protocol",
                "name a method described under provider.protocol",
            )
            return
        accepted = {p.name for p in method.parameters}
        for name in sorted({n for n, _ in value.arguments} - accepted):
            yield error(
                value.location,
                f"{method.name} has no parameter {name!r}",
                f"use one of {sorted(accepted)}",
            )
        returned = self.method_return(method)
        builder = returned.builder
        if value.field is not None:
            fields = {f.name: f for f in returned.role.fields} if returned.role else {}
            if value.field not in fields:
                yield error(
                    value.location,
                    f"{method.name}() gives no field {value.field!r}",
                    f"use one of {sorted(fields)}" if fields else "omit `field`",
                )
                return
            builder = fields[value.field].builder
        if slot is not None and (builder is None or builder not in slot.builders):
            yield error(
                value.location,
                f"{method.name}(){'.' + value.field if value.field else ''} is not a {' or '.join(slot.builders)} (slot {slot.name!r})",
                "pick the role field of the slot's Builder",
            )
