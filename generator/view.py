"""Stage 4: template-ready views. Every name, signature, import and docstring line is decided here."""

import hashlib
from dataclasses import dataclass

from generator import naming
from generator.errors import DescriptionError, DescriptionErrors
from generator.expressions import attribute_path
from generator.imports import ImportClash
from generator.model import (
    Construction,
    ImplementationKind,
    MappingKind,
    ParameterKind,
    ordered_mappings,
)
from generator.validate import Adapter, Catalog
from generator.view_context import (
    LINE_LENGTH,
    MODULE_SPEC,
    PACKAGE,
    SpecArgument,
    comment_text,
    docstring_lines,
    wrapped_lines,
)
from generator.view_lifted import LiftedView, LiftedViews
from generator.view_providers import ProviderViews, ProvidersView, RoleView
from generator.view_specs import ConstructorView, FactoryView, ValueView


@dataclass(frozen=True)
class MethodView:
    name: str
    signature: str
    returns: str
    doc: tuple[str, ...]


@dataclass(frozen=True)
class InterfaceView:
    name: str
    doc: tuple[str, ...]
    attributes: tuple[tuple[str, str, str], ...]
    methods: tuple[MethodView, ...]


@dataclass(frozen=True)
class BuilderView:
    name: str
    doc: tuple[str, ...]
    signature: str
    returns: str


@dataclass(frozen=True)
class BindingView:
    """An unannotated upstream object bound once to its type: a function build_module returns
    unbuilt to the slot's Interface, a class whose constructor is unannotated to its Builder."""

    name: str
    type: str | None  # None: keep the inferred type (a private, annotated-enough function)
    source: str
    comment: str
    ignored_rules: str  # what pyright reports about the unannotated source


@dataclass(frozen=True)
class FieldView:
    """A value the spec binds into an adapter: a dataclass field or an `__init__` parameter."""

    name: str
    attribute: str  # where the adapter keeps it (ModuleSpec already owns `submodules`)
    argument: str  # the implementation's parameter it is passed as
    annotation: str
    default: str | None

    @property
    def parameter(self) -> str:
        default = f" = {self.default}" if self.default is not None else ""
        return f"{self.name}: {self.annotation}{default}"


@dataclass(frozen=True)
class GuardView:
    """Raises a clear error where an optional package the implementation needs is missing."""

    flag: str  # megatron's availability flag, e.g. HAVE_TE
    message: str  # a Python string literal


# Optional package -> megatron's flag that says whether it is installed.
REQUIREMENT_FLAGS = {
    "transformer_engine": naming.GENERATOR_IMPORTS["HAVE_TE"],
    "mamba_ssm": naming.GENERATOR_IMPORTS["HAVE_MAMBA_SSM"],
}


@dataclass(frozen=True)
class AdapterView:
    name: str
    is_module_spec: bool
    doc: tuple[str, ...]
    fields: tuple[FieldView, ...]
    init_signature: str
    spec_arguments: tuple[SpecArgument, ...]
    call_signature: str
    returns: str
    dropped: tuple[str, ...]
    guard: GuardView | None
    result: str


@dataclass(frozen=True)
class ModuleView:
    path: str
    header: tuple[str, ...]
    doc: tuple[str, ...]
    import_blocks: tuple[str, ...]
    bindings: tuple[BindingView, ...]
    interfaces: tuple[InterfaceView, ...]
    builders: tuple[BuilderView, ...]
    adapters: tuple[AdapterView, ...]
    lifted: tuple[LiftedView, ...]
    constructors: tuple[ConstructorView, ...]
    factories: tuple[FactoryView, ...]
    values: tuple[ValueView, ...]
    roles: tuple[RoleView, ...]
    providers: ProvidersView | None
    exports: tuple[str, ...]


@dataclass(frozen=True)
class PackageView:
    header: tuple[str, ...]
    doc: str
    modules: tuple[tuple[str, tuple[str, ...]], ...]  # (module, exported names)
    exports: tuple[str, ...]


BUNDLED_DOC = "Typed Protocols, adapters and layer-spec factories for megatron-core 0.19.2."
USER_DOC = "Typed Protocols, adapters and layer-spec factories generated from your descriptions."


def build_views(
    catalog: Catalog, fingerprint: str, package_name: str = PACKAGE
) -> tuple[list[ModuleView], PackageView]:
    """One view per description module of `package_name` (the bundled package, or a user's,
    whose descriptions were validated together with the bundled ones) plus its `__init__`.

    Raises DescriptionErrors when a module would import two objects under one name (validation
    rules out the known ways; this names any other)."""
    own = [d for d in catalog.descriptions if d.package == package_name]
    built: list[ModuleView] = []
    clashes: list[DescriptionError] = []
    for description in own:
        try:
            built.append(_ModuleBuilder(catalog, description, fingerprint).build())
        except ImportClash as clash:
            clashes.append(
                DescriptionError(
                    description.file,
                    "/imports",
                    f"the generated module {description.module}.py cannot import both: {clash}",
                    "import one of them under another local name: a description's local names "
                    "are the names its generated module binds",
                )
            )
    if clashes:
        raise DescriptionErrors(clashes)
    # A description that only describes a parent's slots (no contracts, no specs) has no code.
    modules = sorted((m for m in built if m.exports), key=lambda m: m.path)
    all_files = sorted(d.file for d in own)
    package = PackageView(
        header=_header(catalog, all_files, fingerprint),
        doc=BUNDLED_DOC if package_name == PACKAGE else USER_DOC,
        modules=tuple((m.path.removesuffix(".py"), m.exports) for m in modules),
        exports=tuple(sorted(name for m in modules for name in m.exports)),
    )
    return modules, package


def _header(catalog: Catalog, files: list[str], fingerprint: str) -> tuple[str, ...]:
    digest = hashlib.sha256(fingerprint.encode())
    for file in sorted(files):
        digest.update(file.encode() + b"\0" + catalog.texts[file].encode() + b"\0")
    shown = [comment_text(file) for file in sorted(files)]  # a file name is any text
    if len(files) == 1:
        sources = (f"# Generated by generator from {shown[0]}; do not edit.",)
    else:
        sources = ("# Generated by generator from these descriptions; do not edit.",)
        sources += tuple(f"#   {file}" for file in shown)
    return (*sources, f"# Input hash: {digest.hexdigest()[:32]}")


class _ModuleBuilder(LiftedViews, ProviderViews):
    def build(self) -> ModuleView:
        d = self.description
        interfaces = tuple(self._interface_view(i.name) for i in d.interfaces)
        builders = tuple(self._builder_view(b.name) for b in d.builders)
        adapters = self.catalog.adapters_by_file.get(d.file, [])
        adapter_views = tuple(self._adapter_view(a) for a in adapters)
        bound = {
            a.implementation.object: a for a in adapters if naming.is_bound_once(a.implementation)
        }
        bindings = tuple(self._binding_view(bound[name]) for name in sorted(bound))
        lifted = self._lifted_views()
        constructors = self._constructor_views()
        factories = tuple(self._factory_view(spec) for spec in d.specs)
        roles = self._role_views()
        providers = self._providers_view()
        values = self._value_views()
        exports = tuple(
            sorted(
                [i.name for i in interfaces]
                + [b.name for b in builders]
                + [a.name for a in adapter_views]
                + [name for v in lifted for name in (v.submodules_name, v.class_name)]
                + [c.name for c in constructors]
                + [f.name for f in factories]
                + [v.name for v in values]
                + [r.name for r in roles]
                + self._provider_exports(providers)
            )
        )
        return ModuleView(
            path=f"{d.module}.py",
            header=_header(self.catalog, sorted(self.sources), self.fingerprint),
            doc=docstring_lines(d.doc, indent=0),
            import_blocks=tuple(self.imports.lines(d.package)),
            bindings=bindings,
            interfaces=interfaces,
            builders=builders,
            adapters=adapter_views,
            lifted=lifted,
            constructors=constructors,
            factories=factories,
            values=values,
            roles=roles,
            providers=providers,
            exports=exports,
        )

    # -- views -------------------------------------------------------------------------------

    def _interface_view(self, name: str) -> InterfaceView:
        interface, _ = self.catalog.interfaces[name]
        self.imports.name("typing", "Protocol")
        doc = interface.doc
        if interface.upstream is not None:
            doc += f"\n\nMatches upstream's {interface.upstream.object}."
        return InterfaceView(
            name=interface.name,
            doc=docstring_lines(doc, indent=4),
            attributes=tuple(
                (a.name, self._type(a.type), " ".join(wrapped_lines(a.doc, LINE_LENGTH)))
                for a in interface.attributes
            ),
            methods=tuple(
                MethodView(
                    m.name,
                    self._signature(m.parameters, self_first=True),
                    self._type(m.returns),
                    docstring_lines(m.doc, indent=8),
                )
                for m in interface.methods
            ),
        )

    def _builder_view(self, name: str) -> BuilderView:
        builder, _ = self.catalog.builders[name]
        self.imports.name("typing", "Protocol")
        doc = builder.doc + "\n\n" + self._slots_sentence(builder.name)
        if builder.upstream is not None:
            doc += f"\n\nMatches upstream's {builder.upstream.object}"
            if builder.upstream.extra_parameters:
                extra = ", ".join(builder.upstream.extra_parameters)
                doc += f", plus {extra}: {builder.upstream.reason or 'the parent passes it'}"
            else:
                doc += "."
        return BuilderView(
            name=builder.name,
            doc=docstring_lines(doc, indent=4),
            signature=self._signature(builder.parameters, self_first=True),
            returns=self._name(builder.returns),
        )

    def _slots_sentence(self, builder: str) -> str:
        slots = sorted(
            f"{parent.submodules}.{slot.name}"
            for parent, _ in self.catalog.parents.values()
            for slot in parent.slots
            if builder in slot.builders
        )
        return (
            f"Slots: {', '.join(slots)}."
            if slots
            else "No slot of the described parents uses it yet."
        )

    def _binding_view(self, adapter: Adapter) -> BindingView:
        qualified = self.local_imports[adapter.implementation.object]
        module, name = qualified.rsplit(".", 1)
        package, alias = module.rsplit(".", 1)
        self.imports.name(package, alias)
        bound_type: str | None
        if not adapter.implementation.unannotated:  # private: upstream's spec uses it
            bound_type, rules = None, "reportPrivateUsage"
            comment = f"upstream's own spec uses the private {name}: import it once, here."
        elif adapter.implementation.kind is ImplementationKind.UNBUILT:
            bound_type = self._name(adapter.builder.returns)
            rules = "reportUnknownMemberType, reportUnknownVariableType"
            comment = (
                f"megatron-core leaves {name} unannotated: bind it to its Interface once, here."
            )
        else:
            bound_type, rules = self._name(adapter.builder.name), "reportAssignmentType"
            comment = f"{name}'s constructor is unannotated (upstream casts it too): bind it once."
        return BindingView(
            name=naming.typed_binding_name(adapter.implementation),
            type=bound_type,
            source=f"{alias}.{name}",
            comment=comment,
            ignored_rules=rules,
        )

    def _adapter_view(self, adapter: Adapter) -> AdapterView:
        builder, implementation = adapter.builder, adapter.implementation
        is_module_spec = builder.construction is Construction.BUILD_MODULE
        unbuilt = implementation.kind is ImplementationKind.UNBUILT
        target = (
            naming.typed_binding_name(implementation)
            if naming.is_bound_once(implementation)
            else self._name(implementation.object)
        )

        fields = self._bound_fields(adapter)
        result = target if unbuilt else self._construction_call(adapter, target, fields)
        spec_arguments: list[SpecArgument] = []
        if is_module_spec:
            self.imports.qualified(MODULE_SPEC)
            spec_arguments = _module_spec_arguments(adapter, target, fields)
        else:
            self.imports.name("dataclasses", "dataclass")

        construction = "build_module(spec, ...)" if is_module_spec else "a direct call"
        doc = (
            f"{builder.name} that builds {implementation.object}: {implementation.doc}\n\n"
            f"{self._slots_sentence(builder.name)} The parent builds it with {construction}."
        )
        arguments = _mapping_sentence(adapter)
        if arguments:
            doc += f"\n\n{arguments}"
        return AdapterView(
            name=adapter.name,
            is_module_spec=is_module_spec,
            doc=docstring_lines(doc, indent=4),
            fields=fields,
            init_signature=", ".join(
                ["self", "*", *(f.parameter for f in fields)] if fields else ["self"]
            ),
            spec_arguments=tuple(spec_arguments),
            # The builder's parameter types are written in the builder's own description.
            call_signature=self._signature(
                builder.parameters, self_first=True, scope=self.catalog.builders[builder.name][1]
            ),
            returns=self._name(builder.returns),
            dropped=tuple(
                m.parameter for m in implementation.mappings if m.kind is MappingKind.DROP
            ),
            guard=self._guard(adapter),
            result=result,
        )

    def _guard(self, adapter: Adapter) -> GuardView | None:
        """Without the package, megatron's class is None or a mock: fail early and say why."""
        package = adapter.implementation.requires
        if package is None:
            return None
        flag = self.imports.qualified(REQUIREMENT_FLAGS[package])
        message = f"{adapter.implementation.object} needs {package}, which is not installed"
        return GuardView(flag, repr(message))

    def _bound_fields(self, adapter: Adapter) -> tuple[FieldView, ...]:
        """Submodules and fixed parameters, which the spec binds into the adapter."""
        implementation = adapter.implementation
        module_spec = adapter.builder.construction is Construction.BUILD_MODULE
        fields: list[FieldView] = []
        if implementation.submodules is not None:
            attribute = "typed_submodules" if module_spec else "submodules"
            annotation = self._type(implementation.submodules.type)
            argument = implementation.submodules.argument
            fields.append(FieldView("submodules", attribute, argument, annotation, None))
        for fixed in implementation.fixed:
            default = self._value(fixed.default) if fixed.default is not None else None
            annotation = self._type(fixed.type)
            fields.append(FieldView(fixed.name, fixed.name, fixed.name, annotation, default))
        return tuple(fields)

    def _construction_call(
        self, adapter: Adapter, target: str, fields: tuple[FieldView, ...]
    ) -> str:
        """`Impl(positional..., keyword=..., bound=self.bound)`, per the argument mapping."""
        builder, implementation = adapter.builder, adapter.implementation
        kinds = {p.name: p.kind for p in builder.parameters}
        positional: list[str] = []
        keywords: list[str] = []
        for mapping in ordered_mappings(builder, implementation):
            match mapping.kind:
                case MappingKind.PASS if kinds[mapping.parameter] is ParameterKind.POSITIONAL:
                    positional.append(mapping.parameter)
                case MappingKind.PASS:
                    keywords.append(f"{mapping.parameter}={mapping.parameter}")
                case MappingKind.RENAME:
                    keywords.extend(f"{argument}={source}" for argument, source in mapping.targets)
                case MappingKind.DERIVE:  # the checked path, never the text as written
                    keywords.extend(
                        f"{argument}={derived(source)}" for argument, source in mapping.targets
                    )
                case MappingKind.DROP:
                    pass
        as_spec = implementation.submodules is not None and implementation.submodules.as_spec
        for f in fields:  # `as_spec`: the adapter is the ModuleSpec the implementation takes
            source = "self" if as_spec and f.name == "submodules" else f"self.{f.attribute}"
            keywords.append(f"{f.argument}={source}")
        return f"{target}({', '.join(positional + keywords)})"


def _module_spec_arguments(
    adapter: Adapter, target: str, fields: tuple[FieldView, ...]
) -> list[SpecArgument]:
    """The arguments of `ModuleSpec(module=..., params=..., submodules=...)`.

    build_module calls `module(**params, submodules=submodules, **parent_kwargs)`, which is what
    the adapter's `__call__` does too (validation allows only passthrough mappings here).
    """
    unbuilt = adapter.implementation.kind is ImplementationKind.UNBUILT
    if unbuilt:
        reason = "ModuleSpec's annotation omits the functions build_module accepts"
        arguments = [SpecArgument("module", target, "reportArgumentType", reason)]
    else:
        arguments = [SpecArgument("module", target)]
    params = [f"{f.name!r}: {f.name}" for f in fields if f.name != "submodules"]
    if params:
        arguments.append(SpecArgument("params", "{" + ", ".join(params) + "}"))
    if adapter.implementation.submodules is not None:
        arguments.append(SpecArgument("submodules", "submodules"))
    return arguments


def derived(expression: str) -> str:
    """A derivation as the generated code writes it: its dotted path (`pg_collection.tp`),
    rebuilt from the parsed parts, so nothing else in the text (a comment, a line break) is
    printed."""
    return ".".join(attribute_path(expression))


def _mapping_sentence(adapter: Adapter) -> str:
    """Human summary of the non-trivial argument mapping, for the adapter's docstring."""
    parts: list[str] = []
    for mapping in adapter.implementation.mappings:
        match mapping.kind:
            case MappingKind.DROP if adapter.implementation.kind is ImplementationKind.CLASS:
                parts.append(f"{mapping.parameter} is dropped")
            case MappingKind.RENAME:
                parts.extend(f"{argument}={parameter}" for argument, parameter in mapping.targets)
            case MappingKind.DERIVE:
                parts.extend(f"{argument}={derived(path)}" for argument, path in mapping.targets)
            case _:
                pass
    bound = [p.name for p in adapter.implementation.fixed]
    if adapter.implementation.submodules is not None:
        bound.insert(0, adapter.implementation.submodules.argument)
    sentence = f"Arguments: {'; '.join(parts)}." if parts else ""
    if bound:
        sentence += f" Fixed by the spec: {', '.join(bound)}."
    return sentence.strip()
