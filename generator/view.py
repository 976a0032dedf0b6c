"""Stage 4: template-ready views. Every name, signature, import and docstring line is decided here."""

import hashlib
import textwrap
from dataclasses import dataclass

from generator import naming
from generator.expressions import check_type_expression, check_value_expression
from generator.imports import ImportRegistry
from generator.model import (
    AdapterValue,
    ChoiceValue,
    Construction,
    Description,
    ImplementationKind,
    MappingKind,
    Parameter,
    ParameterKind,
    Slot,
    SpecValue,
    SubmodulesValue,
    ordered_mappings,
)
from generator.validate import Adapter, Catalog

PACKAGE = "generated.megatron_core"
SUPPORT_MODULE = naming.SUPPORT_MODULE
MODULE_SPEC = "megatron.core.transformer.spec_utils.ModuleSpec"
LINE_LENGTH = 100  # black's line length for generated code


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
    """An unannotated upstream function bound once to its Interface type."""

    name: str
    interface: str
    source: str
    comment: str


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
class SpecArgument:
    """One argument of the adapter's `ModuleSpec.__init__` call, with a suppression if needed."""

    name: str
    value: str
    ignored_rule: str | None = None
    reason: str | None = None  # the third-party gap the suppression covers


@dataclass(frozen=True)
class GuardView:
    """Raises a clear error where an optional package the implementation needs is missing."""

    flag: str  # megatron's availability flag, e.g. HAVE_TE
    message: str  # a Python string literal


# Optional package -> megatron's flag that says whether it is installed.
REQUIREMENT_FLAGS = {
    "transformer_engine": "megatron.core.extensions.transformer_engine.HAVE_TE",
    "mamba_ssm": "megatron.core.ssm.mamba_mixer.HAVE_MAMBA_SSM",
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
class ConstructorView:
    """A typed keyword-only constructor of an upstream Submodules dataclass."""

    name: str
    signature: str
    returns: str
    doc: tuple[str, ...]
    args_doc: tuple[tuple[str, tuple[str, ...]], ...]
    arguments: tuple[SpecArgument, ...]


@dataclass(frozen=True)
class FactoryView:
    name: str
    signature: str
    returns: str
    doc: tuple[str, ...]
    args_doc: tuple[tuple[str, tuple[str, ...]], ...]
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
    constructors: tuple[ConstructorView, ...]
    factories: tuple[FactoryView, ...]
    exports: tuple[str, ...]


@dataclass(frozen=True)
class PackageView:
    header: tuple[str, ...]
    modules: tuple[tuple[str, tuple[str, ...]], ...]  # (module, exported names)
    exports: tuple[str, ...]


def build_views(catalog: Catalog, fingerprint: str) -> tuple[list[ModuleView], PackageView]:
    """One view per description module plus the package `__init__`."""
    built = [_ModuleBuilder(catalog, d, fingerprint).build() for d in catalog.descriptions]
    # A description that only describes a parent's slots (no contracts, no specs) has no code.
    modules = sorted((m for m in built if m.exports), key=lambda m: m.path)
    all_files = sorted(d.file for d in catalog.descriptions)
    package = PackageView(
        header=_header(catalog, all_files, fingerprint),
        modules=tuple((m.path.removesuffix(".py"), m.exports) for m in modules),
        exports=tuple(sorted(name for m in modules for name in m.exports)),
    )
    return modules, package


def _header(catalog: Catalog, files: list[str], fingerprint: str) -> tuple[str, ...]:
    digest = hashlib.sha256(fingerprint.encode())
    texts = {d.file: d.text for d in catalog.descriptions}
    for file in sorted(files):
        digest.update(file.encode() + b"\0" + texts[file].encode() + b"\0")
    if len(files) == 1:
        sources = (f"# Generated by generator from {files[0]}; do not edit.",)
    else:
        sources = ("# Generated by generator from these descriptions; do not edit.",)
        sources += tuple(f"#   {file}" for file in sorted(files))
    return (*sources, f"# Input hash: {digest.hexdigest()[:32]}")


def docstring_lines(text: str, indent: int) -> tuple[str, ...]:
    """Docstring lines for text at `indent`; multi-line ones end with an empty line, so the
    closing quotes stand on their own line (PEP 257)."""
    lines = wrapped_lines(text, LINE_LENGTH - indent - len('""""""'))  # opening and closing quotes
    return lines if len(lines) == 1 else lines + ("",)


def wrapped_lines(text: str, width: int) -> tuple[str, ...]:
    """Wraps description text; escapes what could end a docstring early."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    lines: list[str] = []
    for paragraph in escaped.split("\n\n"):
        if lines:
            lines.append("")
        lines.extend(textwrap.wrap(paragraph, width) or [""])
    return tuple(lines)


class _ModuleBuilder:
    def __init__(self, catalog: Catalog, description: Description, fingerprint: str) -> None:
        self.catalog = catalog
        self.description = description
        self.fingerprint = fingerprint
        self.imports = ImportRegistry()
        self.sources = {description.file}
        self.local_imports = description.import_map()

    def build(self) -> ModuleView:
        d = self.description
        interfaces = tuple(self._interface_view(i.name) for i in d.interfaces)
        builders = tuple(self._builder_view(b.name) for b in d.builders)
        adapters = [a for a in self.catalog.adapters.values() if a.description is d]
        adapter_views = tuple(self._adapter_view(a) for a in adapters)
        unannotated = {a.implementation.object: a for a in adapters if a.implementation.unannotated}
        bindings = tuple(self._binding_view(unannotated[name]) for name in sorted(unannotated))
        constructors = self._constructor_views()
        factories = tuple(self._factory_view(i) for i in range(len(d.specs)))
        exports = tuple(
            sorted(
                [i.name for i in interfaces]
                + [b.name for b in builders]
                + [a.name for a in adapter_views]
                + [c.name for c in constructors]
                + [f.name for f in factories]
            )
        )
        return ModuleView(
            path=f"{d.module}.py",
            header=_header(self.catalog, sorted(self.sources), self.fingerprint),
            doc=docstring_lines(d.doc, indent=0),
            import_blocks=tuple(self.imports.lines(PACKAGE)),
            bindings=bindings,
            interfaces=interfaces,
            builders=builders,
            adapters=adapter_views,
            constructors=constructors,
            factories=factories,
            exports=exports,
        )

    # -- names and expressions ---------------------------------------------------------------

    def _name(self, local: str, scope: Description | None = None) -> str:
        """The printable name for a name local to `scope` (default: this module's description),
        importing it as needed."""
        local_imports = self.local_imports if scope is None else scope.import_map()
        if local in local_imports:
            return self.imports.qualified(local_imports[local])
        for table in (self.catalog.interfaces, self.catalog.builders):
            if local in table:
                return self._generated(local, table[local][1])
        if local in self.catalog.adapters:
            return self._generated(local, self.catalog.adapters[local].description)
        return local  # a builtin

    def _generated(self, name: str, owner: Description) -> str:
        if owner is self.description:
            return name
        self.sources.add(owner.file)
        return self.imports.name(f"{PACKAGE}.{owner.module}", name)

    def _type(self, text: str, scope: Description | None = None) -> str:
        checked = check_type_expression(text)
        for name in sorted(checked.names):
            self._name(name, scope)
        return checked.source

    def _value(self, text: str, scope: Description | None = None) -> str:
        checked = check_value_expression(text)
        for name in sorted(checked.names):
            self._name(name, scope)
        return checked.source

    def _signature(
        self,
        parameters: tuple[Parameter, ...],
        *,
        self_first: bool,
        scope: Description | None = None,
    ) -> str:
        parts = ["self"] if self_first else []
        kinds = [p.kind for p in parameters]
        for index, parameter in enumerate(parameters):
            if (
                parameter.kind is ParameterKind.KEYWORD
                and ParameterKind.KEYWORD not in kinds[:index]
            ):
                parts.append("*")
            text = f"{parameter.name}: {self._type(parameter.type, scope)}"
            if parameter.default is not None:
                text += f" = {self._value(parameter.default, scope)}"
            parts.append(text)
            next_kind = kinds[index + 1] if index + 1 < len(kinds) else None
            if (
                parameter.kind is ParameterKind.POSITIONAL
                and next_kind is not ParameterKind.POSITIONAL
            ):
                parts.append("/")
        return ", ".join(parts)

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
            if slot.builder == builder
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
        return BindingView(
            name=naming.typed_binding_name(adapter.implementation),
            interface=self._name(adapter.builder.returns),
            source=f"{alias}.{name}",
            comment=f"megatron-core leaves {name} unannotated: bind it to its Interface once, here.",
        )

    def _adapter_view(self, adapter: Adapter) -> AdapterView:
        builder, implementation = adapter.builder, adapter.implementation
        is_module_spec = builder.construction is Construction.BUILD_MODULE
        unbuilt = implementation.kind is ImplementationKind.UNBUILT
        target = (
            naming.typed_binding_name(implementation)
            if implementation.unannotated
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
                case MappingKind.RENAME | MappingKind.DERIVE:
                    keywords.extend(f"{argument}={source}" for argument, source in mapping.targets)
                case MappingKind.DROP:
                    pass
        keywords.extend(f"{f.argument}=self.{f.attribute}" for f in fields)
        return f"{target}({', '.join(positional + keywords)})"

    def _constructor_views(self) -> tuple[ConstructorView, ...]:
        """The typed constructor of the described parent's Submodules, if it has spec slots."""
        parent = self.description.parent
        slots = [s for s in parent.slots if s.hardcoded is None] if parent else []
        if parent is None or not slots:
            return ()
        parameters: list[str] = []
        arguments: list[SpecArgument] = []
        args_doc: list[tuple[str, tuple[str, ...]]] = []
        for slot in slots:
            annotation = self._name(slot.builder)
            if slot.placeholder is not None:
                annotation += f" | type[{self._name(slot.placeholder)}]"
            if slot.is_list:
                annotation = f"{self.imports.name('collections.abc', 'Sequence')}[{annotation}]"
            if slot.optional:
                annotation += " | None"
            default = f" = {self._value(slot.default)}" if slot.default is not None else ""
            parameters.append(f"{slot.name}: {annotation}{default}")
            arguments.append(self._slot_argument(slot))
            args_doc.append((slot.name, self._arg_doc(slot.name, slot.doc)))
        for field in parent.fields:
            parameters.append(f"{field.name}: {self._type(field.type)} | None = None")
            fresh = f"{field.default_factory}()"
            value = f"{field.name} if {field.name} is not None else {fresh}"
            arguments.append(SpecArgument(field.name, value))
            args_doc.append((field.name, self._arg_doc(field.name, field.doc)))
        dataclass_name = self._name(parent.submodules)
        doc = (
            f"Typed constructor of {dataclass_name}: returns upstream's own dataclass, with each "
            "slot typed by the Builder the parent builds it with, so pyright rejects a wrong "
            "implementation in any slot. Defaults are upstream's."
        )
        return (
            ConstructorView(
                name=naming.submodules_constructor_name(parent.submodules),
                signature=", ".join(["*", *parameters]),
                returns=dataclass_name,
                doc=wrapped_lines(doc, LINE_LENGTH - 4 - len('"""')),
                args_doc=tuple(args_doc),
                arguments=tuple(arguments),
            ),
        )

    def _slot_argument(self, slot: Slot) -> SpecArgument:
        """How a Builder-typed parameter reaches upstream's field.

        Fields upstream types with a Builder take it as is. Fields annotated `ModuleSpec | type`
        that the parent hands to build_module get a run-time check that also narrows the type;
        ones the parent calls directly are passed with a one-line suppression of upstream's gap.
        """
        name = slot.name
        if slot.upstream_typed:
            return SpecArgument(name, name)
        builder, _ = self.catalog.builders[slot.builder]
        if builder.construction is Construction.CALL:
            reason = "upstream annotates the field ModuleSpec | type, but the parent calls it"
            return SpecArgument(name, name, "reportArgumentType", reason)
        if slot.is_list:
            check = self.imports.name(f"{PACKAGE}.{SUPPORT_MODULE}", "module_spec")
            value = f"[{check}(item, {name!r}) for item in {name}]"
        else:
            check = self.imports.name(f"{PACKAGE}.{SUPPORT_MODULE}", "module_spec_or_type")
            value = f"{check}({name}, {name!r})"
        if not slot.optional:
            return SpecArgument(name, value)
        value = f"{value} if {name} is not None else None"
        if slot.is_list:  # upstream's list fields are Optional[List[ModuleSpec]]
            return SpecArgument(name, value)
        reason = "upstream defaults the field to None but annotates it ModuleSpec | type"
        return SpecArgument(name, value, "reportArgumentType", reason)

    def _arg_doc(self, name: str, doc: str) -> tuple[str, ...]:
        return wrapped_lines(doc, LINE_LENGTH - 8 - len(f"{name}: "))

    def _factory_view(self, index: int) -> FactoryView:
        spec = self.description.specs[index]
        module_spec = self.imports.qualified(MODULE_SPEC)
        submodules = self._submodules_expression(spec.submodules)
        return FactoryView(
            name=spec.name,
            signature=self._signature(spec.parameters, self_first=False),
            returns=module_spec,
            doc=wrapped_lines(spec.doc, LINE_LENGTH - 4 - len('"""')),
            args_doc=tuple(
                (p.name, wrapped_lines(p.doc or "", LINE_LENGTH - 8 - len(f"{p.name}: ")))
                for p in spec.parameters
            ),
            result=f"{module_spec}(module={self._name(spec.module)}, submodules={submodules})",
        )

    def _submodules_expression(self, value: SubmodulesValue) -> str:
        qualified = self.local_imports[value.parent]
        parent, owner = self.catalog.parents[qualified]
        constructor = self._generated(naming.submodules_constructor_name(parent.submodules), owner)
        arguments = [f"{slot}={self._spec_value(slot_value)}" for slot, slot_value in value.slots]
        for field, items in value.fields:
            pairs = ", ".join(f"{key!r}: {text!r}" for key, text in items)
            arguments.append(f"{field}={{{pairs}}}")
        return f"{constructor}({', '.join(arguments)})"

    def _spec_value(self, value: SpecValue) -> str:
        match value:
            case None:
                return "None"
            case ChoiceValue():
                return f"({self._spec_value(value.then)} if {value.condition} else {self._spec_value(value.otherwise)})"
            case AdapterValue():
                arguments: list[str] = []
                if value.submodules is not None:
                    arguments.append(f"submodules={self._submodules_expression(value.submodules)}")
                arguments.extend(f"{name}={self._value(text)}" for name, text in value.fixed)
                return f"{self._name(value.adapter)}({', '.join(arguments)})"


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


def _mapping_sentence(adapter: Adapter) -> str:
    """Human summary of the non-trivial argument mapping, for the adapter's docstring."""
    parts: list[str] = []
    for mapping in adapter.implementation.mappings:
        match mapping.kind:
            case MappingKind.DROP if adapter.implementation.kind is ImplementationKind.CLASS:
                parts.append(f"{mapping.parameter} is dropped")
            case MappingKind.RENAME | MappingKind.DERIVE:
                parts.extend(f"{argument}={expression}" for argument, expression in mapping.targets)
            case _:
                pass
    bound = [p.name for p in adapter.implementation.fixed]
    if adapter.implementation.submodules is not None:
        bound.insert(0, adapter.implementation.submodules.argument)
    sentence = f"Arguments: {'; '.join(parts)}." if parts else ""
    if bound:
        sentence += f" Fixed by the spec: {', '.join(bound)}."
    return sentence.strip()
