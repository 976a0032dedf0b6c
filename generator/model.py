"""Stage 2: the described contracts as frozen dataclasses (what was written, not yet checked).

Every element keeps the file and JSON pointer it came from, so later stages can report errors
precisely. Building the model never fails on schema-valid input.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any

from generator.load import LoadedDescription
from generator.model_lifted import Lifted, build_lifted
from generator.model_base import (
    Location,
    Locator,
    Parameter,
    ParameterKind,
    build_parameters,
)
from generator.model_specs import (
    AdapterValue,
    CallValue,
    Check,
    CheckKind,
    ChoiceValue,
    ExpressionValue,
    ListValue,
    ModuleValue,
    ProvidedValue,
    ProviderClass,
    ProviderMethod,
    Providers,
    Role,
    RoleField,
    RoleValue,
    SpecFactory,
    SpecValue,
    SubmodulesValue,
    module_values,
    providers,
    roles,
    spec_factory,
)

# The package the bundled descriptions (schemas/megatron_core/) are generated into. A user's own
# descriptions (`generate --schemas DIR --out PACKAGE_DIR`) are generated into the user's package.
BUNDLED_PACKAGE = "generated.megatron_core"

__all__ = [
    "AdapterValue",
    "CallValue",
    "Check",
    "CheckKind",
    "ChoiceValue",
    "ExpressionValue",
    "ListValue",
    "ModuleValue",
    "Location",
    "Parameter",
    "ParameterKind",
    "ProvidedValue",
    "ProviderClass",
    "ProviderMethod",
    "Providers",
    "Role",
    "RoleField",
    "RoleValue",
    "SpecFactory",
    "SpecValue",
    "SubmodulesValue",
    "ArgumentMapping",
    "BUNDLED_PACKAGE",
    "Attribute",
    "Builder",
    "Construction",
    "Contribution",
    "Description",
    "Implementation",
    "ImplementationKind",
    "Interface",
    "MappingKind",
    "Method",
    "Parent",
    "PlainField",
    "Slot",
    "SubmodulesArgument",
    "Upstream",
    "build_model",
    "ordered_mappings",
]


@dataclass(frozen=True)
class Method:
    name: str
    parameters: tuple[Parameter, ...]
    returns: str
    doc: str
    location: Location


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    doc: str
    location: Location


@dataclass(frozen=True)
class Upstream:
    object: str
    extra_parameters: tuple[str, ...]
    reason: str | None


@dataclass(frozen=True)
class Interface:
    name: str
    doc: str
    methods: tuple[Method, ...]
    attributes: tuple[Attribute, ...]
    upstream: Upstream | None
    location: Location


class Construction(Enum):
    """How a parent builds a slot."""

    CALL = "call"
    BUILD_MODULE = "build_module"


class ImplementationKind(Enum):
    CLASS = "class"
    UNBUILT = "unbuilt"  # a function build_module returns as the built module itself


class MappingKind(Enum):
    PASS = "pass"
    DROP = "drop"
    RENAME = "rename"
    DERIVE = "derive"


@dataclass(frozen=True)
class ArgumentMapping:
    """What one builder parameter becomes in the implementation's call."""

    parameter: str
    kind: MappingKind
    # RENAME: ((new_name, parameter),); DERIVE: ((argument, expression), ...)
    targets: tuple[tuple[str, str], ...]
    location: Location


@dataclass(frozen=True)
class SubmodulesArgument:
    argument: str
    type: str
    as_spec: bool = False  # the adapter (a ModuleSpec carrying the submodules) is passed instead


@dataclass(frozen=True)
class Implementation:
    object: str
    kind: ImplementationKind
    doc: str
    unannotated: bool
    requires: str | None
    mappings: tuple[ArgumentMapping, ...]
    fixed: tuple[Parameter, ...]
    submodules: SubmodulesArgument | None
    location: Location


@dataclass(frozen=True)
class Builder:
    name: str
    doc: str
    construction: Construction
    parameters: tuple[Parameter, ...]
    returns: str
    upstream: Upstream | None
    implementations: tuple[Implementation, ...]
    location: Location


def ordered_mappings(builder: Builder, implementation: Implementation) -> list[ArgumentMapping]:
    """The implementation's mappings in the builder's parameter order (positional order matters),
    then any that name no builder parameter, as written."""
    order = {parameter.name: index for index, parameter in enumerate(builder.parameters)}
    return sorted(implementation.mappings, key=lambda m: order.get(m.parameter, len(order)))


@dataclass(frozen=True)
class Contribution:
    """An implementation one description adds to a Builder that another describes."""

    builder: str
    implementation: Implementation


@dataclass(frozen=True)
class Slot:
    name: str
    doc: str
    builder: str
    optional: bool
    is_list: bool
    default: str | None  # upstream's dataclass default (a value expression); None: required
    placeholder: str | None  # a no-op class the parent accepts besides the Builder
    also_accepts: tuple[tuple[str, str], ...]  # (type expression, why) besides the Builder
    upstream_typed: bool  # upstream annotates the field with a Builder Protocol
    location: Location

    @property
    def builders(self) -> tuple[str, ...]:
        """The slot's Builder, then the other Builders it accepts (plain names in also_accepts)."""
        named = [text for text, _ in self.also_accepts if text.isidentifier()]
        return (self.builder, *named)


@dataclass(frozen=True)
class PlainField:
    """A field of a Submodules dataclass that is not a slot."""

    name: str
    type: str
    doc: str
    default_factory: str
    location: Location


@dataclass(frozen=True)
class Parent:
    class_name: str
    submodules: str
    slots: tuple[Slot, ...]
    fields: tuple[PlainField, ...]
    lifted: Lifted | None  # submodules __init__ hard-codes, lifted into slots of a subclass
    location: Location


@dataclass(frozen=True)
class Description:
    file: str
    text: str
    module: str
    doc: str
    imports: tuple[tuple[str, str], ...]
    interfaces: tuple[Interface, ...]
    builders: tuple[Builder, ...]
    contributions: tuple["Contribution", ...]
    parent: Parent | None
    specs: tuple[SpecFactory, ...]
    values: tuple[ModuleValue, ...]
    roles: tuple[Role, ...]
    providers: Providers | None
    package: str = BUNDLED_PACKAGE  # the dotted package its module is generated into

    def import_map(self) -> dict[str, str]:
        return dict(self.imports)

    @property
    def qualified_module(self) -> str:
        """`generated.megatron_core.mlp`: the generated module's import path."""
        return f"{self.package}.{self.module}"


def build_model(loaded: LoadedDescription, package: str = BUNDLED_PACKAGE) -> Description:
    """Converts one schema-valid description into the model; its module is generated into
    `package` (a user's own descriptions go into the user's package)."""
    data = loaded.data
    at = Locator(loaded.file)
    parent = data.get("parent")
    return Description(
        file=loaded.file,
        text=loaded.text,
        module=data["module"],
        doc=data["doc"],
        imports=tuple(sorted(data["imports"].items())),
        interfaces=tuple(
            _interface(item, at("interfaces", i))
            for i, item in enumerate(data.get("interfaces", []))
        ),
        builders=tuple(
            _builder(item, at("builders", i)) for i, item in enumerate(data.get("builders", []))
        ),
        contributions=tuple(
            Contribution(item["builder"], _implementation(item, at("implementations", i)))
            for i, item in enumerate(data.get("implementations", []))
        ),
        parent=_parent(parent, at("parent")) if parent is not None else None,
        specs=tuple(
            spec_factory(item, at("specs", i)) for i, item in enumerate(data.get("specs", []))
        ),
        values=module_values(data.get("values", []), at("values")),
        roles=roles(data.get("roles", []), at("roles")),
        providers=providers(data.get("provider"), at("provider")),
        package=package,
    )


def _upstream(data: dict[str, Any] | None) -> Upstream | None:
    if data is None:
        return None
    return Upstream(data["object"], tuple(data.get("extra_parameters", [])), data.get("reason"))


def _interface(data: dict[str, Any], at: Locator) -> Interface:
    return Interface(
        name=data["name"],
        doc=data["doc"],
        methods=tuple(
            Method(
                name=method["name"],
                parameters=build_parameters(method["parameters"], at("methods", i, "parameters")),
                returns=method["returns"],
                doc=method["doc"],
                location=at("methods", i).location,
            )
            for i, method in enumerate(data["methods"])
        ),
        attributes=tuple(
            Attribute(item["name"], item["type"], item["doc"], at("attributes", i).location)
            for i, item in enumerate(data.get("attributes", []))
        ),
        upstream=_upstream(data.get("upstream")),
        location=at.location,
    )


def _mapping(parameter: str, data: str | dict[str, Any], at: Locator) -> ArgumentMapping:
    if isinstance(data, str):
        return ArgumentMapping(parameter, MappingKind(data), (), at.location)
    if "rename" in data:
        return ArgumentMapping(
            parameter, MappingKind.RENAME, ((data["rename"], parameter),), at.location
        )
    derived = tuple(sorted(data["derive"].items()))
    return ArgumentMapping(parameter, MappingKind.DERIVE, derived, at.location)


def _implementation(data: dict[str, Any], at: Locator) -> Implementation:
    submodules = data.get("submodules")
    return Implementation(
        object=data["object"],
        kind=ImplementationKind(data["construction"]),
        doc=data["doc"],
        unannotated=data.get("unannotated", False),
        requires=data.get("requires"),
        mappings=tuple(
            _mapping(name, value, at("arguments", name))
            for name, value in data["arguments"].items()
        ),
        fixed=build_parameters(data.get("fixed", []), at("fixed")),
        submodules=(
            SubmodulesArgument(
                submodules["argument"], submodules["type"], submodules.get("as_spec", False)
            )
            if submodules
            else None
        ),
        location=at.location,
    )


def _builder(data: dict[str, Any], at: Locator) -> Builder:
    return Builder(
        name=data["name"],
        doc=data["doc"],
        construction=Construction(data["construction"]),
        parameters=build_parameters(data["parameters"], at("parameters")),
        returns=data["returns"],
        upstream=_upstream(data.get("upstream")),
        implementations=tuple(
            _implementation(item, at("implementations", i))
            for i, item in enumerate(data["implementations"])
        ),
        location=at.location,
    )


def _parent(data: dict[str, Any], at: Locator) -> Parent:
    return Parent(
        class_name=data["class"],
        submodules=data["submodules"],
        slots=tuple(
            Slot(
                name=slot["name"],
                doc=slot["doc"],
                builder=slot["builder"],
                optional=slot.get("optional", False),
                is_list=slot.get("multiplicity", "single") == "list",
                default=slot.get("default"),
                placeholder=slot.get("placeholder"),
                also_accepts=tuple((a["type"], a["reason"]) for a in slot.get("also_accepts", [])),
                upstream_typed=slot.get("upstream_typed", False),
                location=at("slots", i).location,
            )
            for i, slot in enumerate(data["slots"])
        ),
        fields=tuple(
            PlainField(
                item["name"],
                item["type"],
                item["doc"],
                item["default_factory"],
                at("fields", i).location,
            )
            for i, item in enumerate(data.get("fields", []))
        ),
        lifted=build_lifted(data["lifted"], at("lifted")) if "lifted" in data else None,
        location=at.location,
    )
