"""Stage 2 (specs): the spec values factories are made of, the factories, and the typed
backend providers (roles, the provider Protocol and its implementations), as described."""

import ast
from dataclasses import dataclass
from enum import Enum
from typing import Any

from generator.model_base import Location, Locator, Parameter, build_parameters


@dataclass(frozen=True)
class AdapterValue:
    adapter: str
    fixed: tuple[tuple[str, str], ...]
    submodules: "SpecValue"  # None: the implementation takes none
    location: Location


@dataclass(frozen=True)
class ChoiceValue:
    condition: str
    then: "SpecValue"
    otherwise: "SpecValue"
    location: Location


@dataclass(frozen=True)
class CallValue:
    """A call of a generated factory or run-time helper; arguments are expressions or values."""

    target: str
    arguments: tuple[tuple[str, "str | SpecValue"], ...]
    location: Location


@dataclass(frozen=True)
class ExpressionValue:
    """A value expression over imports and the factory's parameters."""

    text: str
    location: Location


@dataclass(frozen=True)
class ListValue:
    items: tuple["SpecValue", ...]
    location: Location


@dataclass(frozen=True)
class RoleValue:
    """A role record: one value per field (each fills the slots the field names)."""

    role: str
    fields: tuple[tuple[str, "SpecValue"], ...]
    location: Location


@dataclass(frozen=True)
class ProvidedValue:
    """What a typed backend provider's method gives: `by.method(arguments)`, or one field of the
    role it returns (`.field`)."""

    by: str  # a value expression naming a TypedSpecProvider
    method: str
    arguments: tuple[tuple[str, str], ...]
    field: str | None
    location: Location


type SpecValue = (
    AdapterValue
    | ChoiceValue
    | CallValue
    | ExpressionValue
    | ListValue
    | RoleValue
    | ProvidedValue
    | "SubmodulesValue"
    | None
)


@dataclass(frozen=True)
class SubmodulesValue:
    parent: str
    slots: tuple[tuple[str, SpecValue], ...]
    fields: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    location: Location


class CheckKind(Enum):
    ASSERTION = "AssertionError"
    VALUE = "ValueError"
    NOT_IMPLEMENTED = "NotImplementedError"
    WARNING = "UserWarning"


@dataclass(frozen=True)
class Check:
    """An upfront check of a factory's arguments: raise or warn when the condition holds."""

    condition: str
    kind: CheckKind
    message: str
    location: Location


@dataclass(frozen=True)
class SpecFactory:
    name: str
    doc: str
    parameters: tuple[Parameter, ...]
    returns: str
    checks: tuple[Check, ...]
    lets: tuple[tuple[str, SpecValue], ...]  # derived values, in order
    body: SpecValue
    location: Location


@dataclass(frozen=True)
class ModuleValue:
    """A module-level value of an upstream name: a factory of the same file, called bare."""

    name: str
    doc: str
    factory: str
    location: Location


def module_values(items: list[dict[str, Any]], at: Locator) -> tuple[ModuleValue, ...]:
    return tuple(
        ModuleValue(item["name"], item["doc"], item["factory"], at(i).location)
        for i, item in enumerate(items)
    )


def spec_value(data: dict[str, Any] | None, at: Locator) -> SpecValue:
    if data is None:
        return None
    if "parent" in data:
        return _submodules_value(data, at)
    if "call" in data:
        arguments = tuple(
            (name, value if isinstance(value, str) else spec_value(value, at("arguments", name)))
            for name, value in data.get("arguments", {}).items()
        )
        return CallValue(data["call"], arguments, at.location)
    if "value" in data:
        return ExpressionValue(data["value"], at.location)
    if "role" in data:
        return RoleValue(
            data["role"],
            tuple(
                (name, spec_value(value, at("fields", name)))
                for name, value in data["fields"].items()
            ),
            at.location,
        )
    if "provided" in data:
        return ProvidedValue(
            by=data["by"],
            method=data["provided"],
            arguments=tuple(data.get("arguments", {}).items()),
            field=data.get("field"),
            location=at.location,
        )
    if "list" in data:
        return ListValue(
            tuple(spec_value(item, at("list", i)) for i, item in enumerate(data["list"])),
            at.location,
        )
    if "if" in data:
        return ChoiceValue(
            data["if"],
            spec_value(data["then"], at("then")),
            spec_value(data["else"], at("else")),
            at.location,
        )
    return AdapterValue(
        adapter=data["adapter"],
        fixed=tuple(data.get("fixed", {}).items()),
        submodules=spec_value(data.get("submodules"), at("submodules")),
        location=at.location,
    )


def _submodules_value(data: dict[str, Any], at: Locator) -> SubmodulesValue:
    return SubmodulesValue(
        parent=data["parent"],
        slots=tuple(
            (name, spec_value(value, at("slots", name))) for name, value in data["slots"].items()
        ),
        fields=tuple(
            (name, tuple(value.items())) for name, value in data.get("fields", {}).items()
        ),
        location=at.location,
    )


def spec_factory(data: dict[str, Any], at: Locator) -> SpecFactory:
    return SpecFactory(
        name=data["name"],
        doc=data["doc"],
        parameters=build_parameters(data["parameters"], at("parameters")),
        returns=data["returns"],
        checks=tuple(
            Check(item["when"], CheckKind(item["raise"]), item["message"], at("checks", i).location)
            for i, item in enumerate(data.get("checks", []))
        ),
        lets=tuple(
            (name, spec_value(value, at("let", name)))
            for name, value in data.get("let", {}).items()
        ),
        body=spec_value(data["body"], at("body")),
        location=at.location,
    )


@dataclass(frozen=True)
class RoleField:
    """A field of a role record: the slots it fills, all built with `builder`."""

    name: str
    builder: str
    slots: tuple[str, ...]  # "<Submodules>.<slot>"
    location: Location


@dataclass(frozen=True)
class Role:
    """What one provider method gives for the several slots upstream fills from it."""

    name: str
    doc: str
    fields: tuple[RoleField, ...]
    location: Location


@dataclass(frozen=True)
class ProviderMethod:
    """A method of the provider Protocol (upstream's name and parameters, a typed return)."""

    name: str
    doc: str
    parameters: tuple[Parameter, ...]
    returns: str
    location: Location

    @property
    def returned(self) -> tuple[str | None, bool]:
        """(X, may it be None) for a return written `X` or `X | None` with X a plain name;
        (None, ...) for any other type."""
        try:
            node = ast.parse(self.returns, mode="eval").body
        except SyntaxError:
            return None, False
        optional = False
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.BitOr)
            and isinstance(node.right, ast.Constant)
            and node.right.value is None
        ):
            node, optional = node.left, True
        return (node.id if isinstance(node, ast.Name) else None), optional


@dataclass(frozen=True)
class ProviderClass:
    """A generated provider: the typed counterpart of one of upstream's providers. Each method
    is a factory body over the Protocol method's parameters."""

    name: str
    upstream: str  # local (imported) name of upstream's provider class
    doc: str
    methods: tuple[SpecFactory, ...]
    location: Location


@dataclass(frozen=True)
class Providers:
    """The provider Protocol, its implementations and the function that maps upstream's
    providers to them."""

    protocol: str
    doc: str
    methods: tuple[ProviderMethod, ...]
    function: str
    function_doc: str
    classes: tuple[ProviderClass, ...]
    location: Location

    @property
    def generated_names(self) -> frozenset[str]:
        """The Protocol, the provider classes and the mapping function."""
        return frozenset({self.protocol, self.function, *(c.name for c in self.classes)})


def roles(items: list[dict[str, Any]], at: Locator) -> tuple[Role, ...]:
    return tuple(
        Role(
            name=item["name"],
            doc=item["doc"],
            fields=tuple(
                RoleField(f["name"], f["builder"], tuple(f["slots"]), at(i, "fields", j).location)
                for j, f in enumerate(item["fields"])
            ),
            location=at(i).location,
        )
        for i, item in enumerate(items)
    )


def providers(data: dict[str, Any] | None, at: Locator) -> Providers | None:
    if data is None:
        return None
    protocol = data["protocol"]
    methods = tuple(
        ProviderMethod(
            m["name"],
            m["doc"],
            build_parameters(m.get("parameters", []), at("protocol", "methods", i, "parameters")),
            m["returns"],
            at("protocol", "methods", i).location,
        )
        for i, m in enumerate(protocol["methods"])
    )
    signatures = {m.name: m for m in methods}
    classes: list[ProviderClass] = []
    for i, item in enumerate(data["classes"]):
        bodies: list[SpecFactory] = []
        for name, body in item["methods"].items():
            method = signatures.get(name)
            where = at("classes", i, "methods", name)
            full: dict[str, Any] = {
                "name": name,
                "doc": body.get("doc", method.doc if method else ""),
                "parameters": [],
                "returns": method.returns if method else "object",
                **{k: v for k, v in body.items() if k != "doc"},
            }
            factory = spec_factory(full, where)
            parameters = method.parameters if method else ()
            bodies.append(
                SpecFactory(
                    factory.name,
                    factory.doc,
                    parameters,
                    factory.returns,
                    factory.checks,
                    factory.lets,
                    factory.body,
                    factory.location,
                )
            )
        classes.append(
            ProviderClass(
                item["name"],
                item["upstream"],
                item["doc"],
                tuple(bodies),
                at("classes", i).location,
            )
        )
    return Providers(
        protocol=protocol["name"],
        doc=protocol["doc"],
        methods=methods,
        function=protocol["function"],
        function_doc=protocol["function_doc"],
        classes=tuple(classes),
        location=at.location,
    )
