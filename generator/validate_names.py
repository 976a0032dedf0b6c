"""Stage 3c: the names a description puts into generated code mean only what it says.

A generated module binds, at module level, the generator's own imports
(naming.GENERATOR_IMPORTS), the description's imports under their local names, and the
generated names (Protocols, adapters, constructors, factories, values, roles, providers); its
functions use some builtins (naming.GENERATED_BUILTINS). Checked here, once the contracts and
specs are valid:

- a module-level name is bound to one thing: an import neither shadows a Python builtin nor
  takes a name the generator imports (unless it imports that same object) or a generated name
  (unless it is that generated object); a generated name is no builtin and no generator import;
  a module is not named like a generated name (the package binds both);
- a name bound inside a generated function (a parameter, a fixed field, a Submodules field, a
  derived value) is not `self` and does not hide what the function's body uses. For a spec
  factory that is exactly what its body refers to (its parameters are upstream's names, e.g.
  `mla_down_proj_fusion`, also a helper); elsewhere the generator's imports, those builtins and
  the generated names, plus the description's imports where the body or later annotations use
  them (Submodules constructors, adapter fields) and the implementation an adapter calls.
"""

import builtins
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from generator import naming
from generator.errors import DescriptionError, pointer
from generator.expressions import check_condition_expression, check_value_expression
from generator.model import (
    AdapterValue,
    CallValue,
    CheckKind,
    ChoiceValue,
    Description,
    ExpressionValue,
    ListValue,
    Location,
    Parameter,
    ProvidedValue,
    RoleValue,
    SpecFactory,
    SpecValue,
    SubmodulesValue,
)
from generator.validate_contracts import Catalog, error, find_parent
from generator.validate_lifted import lifted_names

PYTHON_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))


@dataclass(frozen=True)
class _Bound:
    """A name a generated function binds, where it is described, and what it is."""

    name: str
    location: Location
    kind: str  # "parameter", "fixed parameter", "slot", ...


def check_names(catalog: Catalog) -> Iterator[DescriptionError]:
    """Every shadowing, each reported where the name is described."""
    generated = _generated_names(catalog)
    reserved = _reserved(generated)
    importers: dict[str, list[tuple[str, Description]]] = {}  # local name -> (object, importer)
    for description in catalog.descriptions:
        for name, dotted in description.imports:
            importers.setdefault(name, []).append((dotted, description))
    seen: set[DescriptionError] = set()  # a provider method's parameters serve every class
    for description in catalog.descriptions:
        for found in (
            *_check_module(description, generated),
            *_check_imports(description),
            *_check_definitions(catalog, description, importers),
            *_check_functions(catalog, description, reserved),
        ):
            if found not in seen:
                seen.add(found)
                yield found


def _generated_names(catalog: Catalog) -> dict[str, Description]:
    """Every module-level name the generator defines, with the description it is generated from
    (validation has made them unique)."""
    return {
        name: description
        for description in catalog.descriptions
        for name, _ in _definitions(catalog, description)
    }


def _definitions(catalog: Catalog, description: Description) -> Iterator[tuple[str, Location]]:
    """The module-level names generated from `description`, each with where its name is taken
    from (an adapter's from its implementation's object, a constructor's from the Submodules)."""
    for item in (*description.interfaces, *description.builders, *description.roles):
        yield item.name, _at(item.location, "name")
    for adapter in catalog.adapters_by_file.get(description.file, []):
        yield adapter.name, _at(adapter.implementation.location, "object")
    parent = description.parent
    if parent is not None:
        constructor = naming.submodules_constructor_name(parent.submodules)
        yield constructor, _at(parent.location, "submodules")
        for name in lifted_names(parent):
            yield name, _at(parent.location, "class")
    for item in (*description.specs, *description.values):
        yield item.name, _at(item.location, "name")
    providers = description.providers
    if providers is not None:
        yield providers.protocol, _at(providers.location, "protocol", "name")
        yield providers.function, _at(providers.location, "protocol", "function")
        for provider in providers.classes:
            yield provider.name, _at(provider.location, "name")


def _at(location: Location, *parts: str) -> Location:
    """The location of a part of a described element."""
    return Location(location.file, location.pointer + pointer(*parts))


def _check_module(
    description: Description, generated: dict[str, Description]
) -> Iterator[DescriptionError]:
    owner = generated.get(description.module)
    if owner is not None:
        yield error(
            Location(description.file, "/module"),
            f"module {description.module!r} has the name of {description.module}, generated from "
            f"{owner.file}",
            "choose another module name: generated.megatron_core binds both its modules and "
            "the names it exports, so one would hide the other",
        )


def _check_imports(description: Description) -> Iterator[DescriptionError]:
    for name, dotted in description.imports:
        at = Location(description.file, pointer("imports", name))
        fix = "import it under another local name (the key of imports)"
        reserved = naming.GENERATOR_IMPORTS.get(name)
        if name in PYTHON_BUILTINS:
            yield error(at, f"import {name!r} shadows Python's builtin {name}", fix)
        elif reserved is not None and reserved != dotted:
            yield error(
                at,
                f"import {name!r} ({dotted}) takes the name of {reserved}, which generated "
                f"modules import as {name}",
                fix,
            )


def _check_definitions(
    catalog: Catalog,
    description: Description,
    importers: dict[str, list[tuple[str, Description]]],
) -> Iterator[DescriptionError]:
    for name, location in _definitions(catalog, description):
        itself = f"{description.qualified_module}.{name}"
        others = sorted({d.file for dotted, d in importers.get(name, []) if dotted != itself})
        if name in PYTHON_BUILTINS:
            yield error(
                location,
                f"generated name {name!r} shadows Python's builtin {name}",
                "choose another name: generated modules use builtins in annotations and bodies",
            )
        elif name in naming.GENERATOR_IMPORTS:
            yield error(
                location,
                f"generated name {name!r} takes the name of {naming.GENERATOR_IMPORTS[name]}, "
                "which generated modules import",
                "choose another name",
            )
        elif others:
            listed = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if others[3:] else "")
            yield error(
                location,
                f"generated name {name!r} is also the name of an import in {listed}",
                "choose another name: a generated module that imports both could not tell them "
                "apart (or import this generated object itself)",
            )


def _reserved(generated: dict[str, Description]) -> dict[str, str]:
    """What every generated function's body may use, by name, and what it means there."""
    return {
        "self": "the generated method's own instance",
        **{
            name: f"{dotted}, which generated modules import"
            for name, dotted in naming.GENERATOR_IMPORTS.items()
        },
        **{
            name: f"Python's builtin {name}, which generated code uses"
            for name in naming.GENERATED_BUILTINS
        },
        **{name: f"{name}, generated from {owner.file}" for name, owner in generated.items()},
    }


def _check_functions(
    catalog: Catalog, description: Description, reserved: dict[str, str]
) -> Iterator[DescriptionError]:
    """Names bound inside generated functions, against what each function's body uses."""
    for bound, used in _bound_names(catalog, description, reserved):
        what = used.get(bound.name)
        if what is not None:
            yield error(
                bound.location,
                f"{bound.kind} {bound.name!r} would hide {what}",
                f"rename the {bound.kind}: inside the generated function the name "
                f"{bound.name} must still mean what the generated code refers to",
            )


def _bound_names(
    catalog: Catalog, description: Description, reserved: dict[str, str]
) -> Iterator[tuple[_Bound, Mapping[str, str]]]:
    """Each name a generated function binds, with the names it must not take (and what they
    mean there; chained, not merged: `reserved` holds every generated name)."""
    imports = {name: f"the import {name} ({dotted})" for name, dotted in description.imports}
    with_imports = ChainMap(imports, reserved)
    for interface in description.interfaces:
        for method in interface.methods:
            yield from _parameters(method.parameters, reserved)
    for builder in description.builders:
        # Every adapter's __call__ calls its implementation with these parameters.
        objects = {
            a.implementation.object: f"the implementation {a.implementation.object}"
            for a in catalog.adapters_by_builder.get(builder.name, [])
        }
        yield from _parameters(builder.parameters, ChainMap(objects, reserved))
    for adapter in catalog.adapters_by_file.get(description.file, []):
        # fields, or the ModuleSpec's __init__ parameters
        target = {adapter.implementation.object: "the adapter's implementation"}
        for fixed in adapter.implementation.fixed:
            bound = _Bound(fixed.name, _at(fixed.location, "name"), "fixed parameter")
            yield bound, ChainMap(target, imports, reserved)
    parent = description.parent
    if parent is not None:  # the typed Submodules constructors' parameters
        for slot in parent.slots:
            yield _Bound(slot.name, _at(slot.location, "name"), "slot"), with_imports
        for field in parent.fields:
            yield _Bound(field.name, _at(field.location, "name"), "field"), with_imports
        if parent.lifted is not None:
            for item in parent.lifted.slots:
                bound = _Bound(item.name, _at(item.location, "name"), "lifted slot")
                yield bound, with_imports
            yield from _parameters(parent.lifted.parameters, reserved)
    factories = list(description.specs)
    providers = description.providers
    if providers is not None:
        for method in providers.methods:
            yield from _parameters(method.parameters, reserved)
        factories += [body for provider in providers.classes for body in provider.methods]
    for factory in factories:
        # A factory's parameters are upstream's names: they must not hide what its body uses.
        used = {
            name: reserved.get(name) or imports.get(name) or name
            for name in _references(catalog, description, factory)
        }
        used["self"] = reserved["self"]
        yield from _parameters(factory.parameters, used)
        for name, _ in factory.lets:
            yield _Bound(name, _at(factory.location, "let", name), "derived value"), used


def _parameters(
    parameters: Iterable[Parameter], used: Mapping[str, str]
) -> Iterator[tuple[_Bound, Mapping[str, str]]]:
    for parameter in parameters:
        yield _Bound(parameter.name, _at(parameter.location, "name"), "parameter"), used


def _references(catalog: Catalog, description: Description, factory: SpecFactory) -> set[str]:
    """The module-level names a factory's generated body refers to: called factories and
    helpers, adapters, roles, Submodules constructors, raised exceptions, `warn`, and the
    imports its expressions use (a parameter of that name would be read instead)."""
    imports = set(description.import_map())
    outside = imports | naming.SUPPORT_PREDICATES  # what a condition's name can be but a parameter
    names: set[str] = set()
    for check in factory.checks:
        names |= _condition_names(check.condition) & outside
        names.add("warn" if check.kind is CheckKind.WARNING else check.kind.value)
    pending: list[SpecValue] = [value for _, value in factory.lets] + [factory.body]
    while pending:
        value = pending.pop()
        match value:
            case None:
                pass
            case ChoiceValue():
                names |= _condition_names(value.condition) & outside
                pending += [value.then, value.otherwise]
            case AdapterValue():
                names.add(value.adapter)
                names.update(n for _, text in value.fixed for n in _value_names(text, imports))
                pending.append(value.submodules)
            case SubmodulesValue():
                names.add(_constructor(catalog, description, value))
                pending += [slot_value for _, slot_value in value.slots]
            case CallValue():
                names.add(value.target)
                for _, argument in value.arguments:
                    if isinstance(argument, str):
                        names |= _value_names(argument, imports)
                    else:
                        pending.append(argument)
            case ExpressionValue():
                names |= _value_names(value.text, imports)
            case ListValue():
                pending += list(value.items)
            case RoleValue():
                names.add(value.role)
                pending += [field_value for _, field_value in value.fields]
            case ProvidedValue():
                names.add("not_none")  # a role's field that may be None is checked with it
                for text in (value.by, *(text for _, text in value.arguments)):
                    names |= _value_names(text, imports)
    return names


def _condition_names(text: str) -> frozenset[str]:
    return check_condition_expression(text, naming.SUPPORT_PREDICATES).names


def _value_names(text: str, imports: set[str]) -> set[str]:
    """The imports a value expression uses (its other names are the factory's own)."""
    return set(check_value_expression(text).names) & imports


def _constructor(catalog: Catalog, description: Description, value: SubmodulesValue) -> str:
    found = find_parent(catalog.parents, description.import_map().get(value.parent))
    assert found is not None, value.parent  # validated
    parent, _, lifted = found
    dataclass_name = (
        naming.lifted_submodules_name(parent.class_name) if lifted else parent.submodules
    )
    return naming.submodules_constructor_name(dataclass_name)
