"""Stage 4 (providers): views of role records, the typed provider Protocol, its
implementations and the function that maps upstream's providers to them."""

from dataclasses import dataclass

from generator import naming
from generator.model import ProviderClass, Role
from generator.view_context import docstring_lines
from generator.view_specs import FactoryView, SpecViews

BACKEND_SPEC_PROVIDER = naming.GENERATOR_IMPORTS["BackendSpecProvider"]


@dataclass(frozen=True)
class RoleFieldView:
    name: str
    annotation: str
    doc: tuple[str, ...]  # docstring lines


@dataclass(frozen=True)
class RoleView:
    """A frozen, keyword-only dataclass with one Builder-typed field per slot group."""

    name: str
    doc: tuple[str, ...]
    fields: tuple[RoleFieldView, ...]


@dataclass(frozen=True)
class ProtocolMethodView:
    name: str
    signature: str
    returns: str
    doc: tuple[str, ...]


@dataclass(frozen=True)
class ProtocolView:
    name: str
    doc: tuple[str, ...]
    methods: tuple[ProtocolMethodView, ...]


@dataclass(frozen=True)
class ProviderClassView:
    name: str
    doc: tuple[str, ...]
    methods: tuple[FactoryView, ...]


@dataclass(frozen=True)
class ProviderFunctionView:
    """`typed_provider(backend)`: upstream's exact provider classes to ours; others refused."""

    name: str
    doc: tuple[str, ...]
    parameter: str  # the annotation of `backend`
    protocol: str
    upstream_base: str  # upstream's BackendSpecProvider, whose other subclasses are refused
    mapping: tuple[tuple[str, str], ...]  # (upstream class, our class)
    known: str  # the names of upstream's classes, for the error message
    cast: str


@dataclass(frozen=True)
class ProvidersView:
    protocol: ProtocolView
    classes: tuple[ProviderClassView, ...]
    function: ProviderFunctionView


class ProviderViews(SpecViews):
    """Views of the description's roles and typed providers."""

    def _role_views(self) -> tuple[RoleView, ...]:
        if self.description.roles:
            self.imports.name("dataclasses", "dataclass")
        return tuple(self._role_view(role) for role in self.description.roles)

    def _role_view(self, role: Role) -> RoleView:
        fields = tuple(
            RoleFieldView(
                name=field.name,
                annotation=self._name(field.builder),
                doc=docstring_lines(f"{field.builder} for {', '.join(field.slots)}.", indent=4),
            )
            for field in role.fields
        )
        return RoleView(role.name, docstring_lines(role.doc, indent=4), fields)

    def _providers_view(self) -> ProvidersView | None:
        providers = self.description.providers
        if providers is None:
            return None
        self.imports.name("typing", "Protocol")
        protocol = ProtocolView(
            name=providers.protocol,
            doc=docstring_lines(providers.doc, indent=4),
            methods=tuple(
                ProtocolMethodView(
                    m.name,
                    self._signature(m.parameters, self_first=True),
                    self._type(m.returns),
                    docstring_lines(m.doc, indent=8),
                )
                for m in providers.methods
            ),
        )
        classes = tuple(self._provider_class_view(c) for c in providers.classes)
        base = self.imports.qualified(BACKEND_SPEC_PROVIDER)
        mapping = tuple((self._name(c.upstream), c.name) for c in providers.classes)
        function = ProviderFunctionView(
            name=providers.function,
            doc=docstring_lines(providers.function_doc, indent=4),
            parameter=f"{base} | {providers.protocol}",
            protocol=providers.protocol,
            upstream_base=base,
            mapping=mapping,
            known=", ".join(upstream for upstream, _ in mapping),
            cast=self.imports.name("typing", "cast"),
        )
        return ProvidersView(protocol, classes, function)

    def _provider_class_view(self, provider: ProviderClass) -> ProviderClassView:
        doc = f"{provider.doc}\n\nThe typed counterpart of upstream's {provider.upstream}."
        return ProviderClassView(
            name=provider.name,
            doc=docstring_lines(doc, indent=4),
            methods=tuple(self._factory_view(m, method=True) for m in provider.methods),
        )

    def _provider_exports(self, providers: ProvidersView | None) -> list[str]:
        if providers is None:
            return []
        return [
            providers.protocol.name,
            providers.function.name,
            *(c.name for c in providers.classes),
        ]
