"""Stage 3b (providers): roles and typed backend providers, against the validated contracts.

A role's field names the slots it fills; each must be a slot of a described parent built with
the field's Builder. A provider Protocol method returns a Builder, a role (either possibly
`| None`) or another type; that return is the slot context its implementations' bodies are
checked in, as a factory body's values are checked where they fill a slot.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from generator.errors import DescriptionError
from generator.model import (
    Description,
    ProviderMethod,
    Providers,
    Role,
    RoleField,
    Slot,
)
from generator.validate_contracts import Catalog, ContractChecker, error


@dataclass(frozen=True)
class SlotContext:
    """The slot a value fills."""

    name: str
    builders: tuple[str, ...]  # the slot's Builder first, then the others it accepts
    optional: bool
    is_list: bool


@dataclass(frozen=True)
class MethodReturn:
    """What a provider Protocol method returns: a role, a Builder, or another type (neither)."""

    role: Role | None
    builder: str | None
    optional: bool


class ProviderChecker(ContractChecker):
    """Indexes roles and the provider Protocol; checks roles and the providers' shape."""

    def __init__(self, descriptions: list[Description]) -> None:
        super().__init__(descriptions)
        self.roles: dict[str, tuple[Role, Description]] = {}
        self.providers: tuple[Providers, Description] | None = None

    def catalog(self) -> Catalog:
        base = super().catalog()
        return Catalog(
            base.descriptions,
            base.interfaces,
            base.builders,
            base.adapters,
            base.parents,
            self.roles,
            self.providers,
        )

    def _is_known(self, description: Description, name: str) -> bool:
        return (
            super()._is_known(description, name)
            or name in self.roles
            or (self.providers is not None and name in self.providers[0].generated_names)
        )

    def index_providers(self) -> Iterator[DescriptionError]:
        """Claims the names of roles, the Protocol, its classes and its function."""
        for description in self.descriptions:
            for role in description.roles:
                yield from self._claim(role.name, role.location, "role record")
                self.roles[role.name] = (role, description)
            providers = description.providers
            if providers is None:
                continue
            if self.providers is not None:
                yield error(
                    providers.location,
                    f"a provider Protocol is also described in {self.providers[1].file} at "
                    f"{self.providers[0].location.pointer}",
                    "describe the typed providers once",
                )
                continue
            self.providers = (providers, description)
            for name in (providers.protocol, providers.function):
                yield from self._claim(name, providers.location, "typed provider")
            for provider in providers.classes:
                yield from self._claim(provider.name, provider.location, "typed provider class")

    def check_roles(self) -> Iterator[DescriptionError]:
        slots = {
            f"{parent.submodules}.{slot.name}": slot
            for parent, _ in self.parents.values()
            for slot in parent.slots
        }
        for role, _ in self.roles.values():
            names = [field.name for field in role.fields]
            for name in sorted({n for n in names if names.count(n) > 1}):
                yield error(role.location, f"field {name!r} is described twice", "keep one")
            for field in role.fields:
                yield from self._check_role_field(field, slots)

    def _check_role_field(
        self, field: RoleField, slots: dict[str, Slot]
    ) -> Iterator[DescriptionError]:
        if field.builder not in self.builders:
            yield error(field.location, f"unknown builder {field.builder!r}", "name a Builder")
        for name in field.slots:
            slot = slots.get(name)
            if slot is None:
                yield error(
                    field.location,
                    f"{name!r} is not a slot of a described parent",
                    "write '<Submodules>.<slot>' of a parent described in schemas/",
                )
            elif field.builder not in slot.builders:
                yield error(
                    field.location,
                    f"slot {name!r} is not built with {field.builder}",
                    "list only slots the field's Builder fills, or change the Builder",
                )

    def check_provider_shape(self) -> Iterator[DescriptionError]:
        """The Protocol's methods and each class: same methods, upstream class imported."""
        if self.providers is None:
            return
        providers, description = self.providers
        seen: set[str] = set()
        for method in providers.methods:
            if method.name in seen:
                yield error(
                    method.location,
                    f"method {method.name!r} is described twice",
                    "keep one description per method",
                )
            seen.add(method.name)
            yield from self._check_parameters(description, method.parameters)
            yield from self._check_type(description, method.returns, method.location)
        expected = {m.name for m in providers.methods}
        for provider in providers.classes:
            if provider.upstream not in description.import_map():
                yield error(
                    provider.location,
                    f"upstream provider {provider.upstream!r} is not imported",
                    f"add {provider.upstream!r} to the description's imports",
                )
            given = {m.name for m in provider.methods}
            for name in sorted(expected - given):
                yield error(provider.location, f"{provider.name} lacks {name!r}", "add its body")
            for name in sorted(given - expected):
                yield error(
                    provider.location,
                    f"{name!r} is not a method of {providers.protocol}",
                    f"use one of {sorted(expected)}",
                )
        upstreams = [c.upstream for c in providers.classes]
        for name in sorted({u for u in upstreams if upstreams.count(u) > 1}):
            yield error(providers.location, f"{name} is mapped twice", "map it once")

    def provider_method(self, name: str) -> ProviderMethod | None:
        if self.providers is None:
            return None
        return next((m for m in self.providers[0].methods if m.name == name), None)

    def method_return(self, method: ProviderMethod) -> MethodReturn:
        """Reads `X` or `X | None` where X is a role or a Builder."""
        name, optional = method.returned
        if name is not None and name in self.roles:
            return MethodReturn(self.roles[name][0], None, optional)
        if name is not None and name in self.builders:
            return MethodReturn(None, name, optional)
        return MethodReturn(None, None, optional)

    def method_context(self, method: ProviderMethod) -> SlotContext | None:
        """The slot context of a provider method's body (None: no slot; a role value is
        checked field by field)."""
        returned = self.method_return(method)
        if returned.builder is not None:
            return SlotContext(method.name, (returned.builder,), returned.optional, False)
        return None

    def is_provider_class(self, name: str) -> bool:
        return self.providers is not None and any(c.name == name for c in self.providers[0].classes)

    def is_provider_function(self, name: str) -> bool:
        return self.providers is not None and name == self.providers[0].function

    @staticmethod
    def provider_function_parameters() -> frozenset[str]:
        return frozenset({"backend"})
