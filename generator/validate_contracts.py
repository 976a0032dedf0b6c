"""Stage 3a: semantic checks of the contracts (interfaces, builders, implementations, parents),
producing an indexed catalog.

JSON Schema has already checked shapes; this stage checks meaning: unique names, resolvable
imports and type expressions, complete argument mappings and construction rules. Every error
cites file, JSON pointer and the fix.
"""

from collections.abc import Iterator
import dataclasses
import difflib
from dataclasses import dataclass
from functools import cached_property

from generator import identifiers, naming
from generator.errors import DescriptionError
from generator.expressions import (
    BUILTIN_TYPES,
    ExpressionError,
    attribute_path,
    check_type_expression,
    check_value_expression,
)
from generator.model import (
    Builder,
    Construction,
    Description,
    Implementation,
    ImplementationKind,
    Interface,
    Location,
    MappingKind,
    Parameter,
    ParameterKind,
    Parent,
    Providers,
    Role,
    ordered_mappings,
)
from generator.resolve import is_module, resolves
from generator.validate_lifted import check_lifted, lifted_names


@dataclass(frozen=True)
class Adapter:
    """One implementation filling one builder, with the description that defines it."""

    name: str
    builder: Builder
    implementation: Implementation
    description: Description


@dataclass(frozen=True)
class Catalog:
    """Validated descriptions, indexed by the names other descriptions refer to them with."""

    descriptions: tuple[Description, ...]
    interfaces: dict[str, tuple[Interface, Description]]
    builders: dict[str, tuple[Builder, Description]]
    adapters: dict[str, Adapter]
    parents: dict[str, tuple[Parent, Description]]  # by qualified class path
    roles: dict[str, tuple[Role, Description]] = dataclasses.field(
        default_factory=dict[str, tuple[Role, Description]]
    )
    providers: tuple[Providers, Description] | None = None  # the provider Protocol, if described

    # Looked up per description by later stages (scanning every adapter or description for each
    # one made them quadratic in the number of descriptions).
    @cached_property
    def adapters_by_file(self) -> dict[str, list[Adapter]]:
        """Description file -> the adapters it defines, in catalog order."""
        found: dict[str, list[Adapter]] = {}
        for adapter in self.adapters.values():
            found.setdefault(adapter.description.file, []).append(adapter)
        return found

    @cached_property
    def adapters_by_builder(self) -> dict[str, list[Adapter]]:
        """Builder name -> the adapters that fill it, in catalog order."""
        found: dict[str, list[Adapter]] = {}
        for adapter in self.adapters.values():
            found.setdefault(adapter.builder.name, []).append(adapter)
        return found

    @cached_property
    def texts(self) -> dict[str, str]:
        """Description file -> its text."""
        return {description.file: description.text for description in self.descriptions}


def find_parent(
    parents: dict[str, tuple[Parent, Description]], qualified: str | None
) -> tuple[Parent, Description, bool] | None:
    """The described parent a spec's Submodules value names by its qualified class path: upstream's
    class (lifted False), or the generated subclass that builds its lifted slots (lifted True)."""
    if qualified is None:
        return None
    if qualified in parents:
        return (*parents[qualified], False)
    for parent, description in parents.values():
        if parent.lifted is not None and qualified == naming.lifted_class_path(
            description.qualified_module, parent.class_name
        ):
            return parent, description, True
    return None


def error(location: Location, message: str, fix: str) -> DescriptionError:
    return DescriptionError(location.file, location.pointer, message, fix)


def _check_import_path(
    at: Location, dotted: str, packages: tuple[str, ...]
) -> Iterator[DescriptionError]:
    """An import names a class, function or value of one of `packages` (megatron-core, torch,
    typing, collections.abc, the generated package; for a user's description also the user's
    own top-level package), through identifiers only."""
    for part in dotted.split("."):
        problem = identifiers.problem(part)
        if problem is not None:
            yield error(at, f"in import {dotted!r}: {problem[0]}", problem[1])
            return
    if not dotted.startswith(packages):
        shown = ", ".join(p.removesuffix(".") for p in packages)
        yield error(
            at,
            f"import {dotted!r} is outside the packages a description imports from",
            f"import from {shown}: descriptions type megatron-core's slots, and generated "
            "code calls and reads what they import",
        )
    elif not resolves(dotted):
        yield error(
            at,
            f"import {dotted!r} does not resolve in the installed packages",
            "correct the module path or name (check the installed megatron-core source)",
        )
    elif is_module(dotted):
        yield error(
            at,
            f"import {dotted!r} names a module, not a class, function or value",
            "import the object itself (e.g. torch.nn.Module, not torch.nn): expressions read "
            "attributes of what is imported, and a module's attributes reach every module it "
            "imports (torch.os.system)",
        )


class ContractChecker:
    """Indexes the descriptions and checks their contracts; shared checks for later stages."""

    def __init__(self, descriptions: list[Description]) -> None:
        self.descriptions = descriptions
        self.interfaces: dict[str, tuple[Interface, Description]] = {}
        self.builders: dict[str, tuple[Builder, Description]] = {}
        self.adapters: dict[str, Adapter] = {}
        self.parents: dict[str, tuple[Parent, Description]] = {}
        self.constructors: dict[str, Description] = {}  # typed Submodules constructors
        # Every generated name (Protocols, adapters, constructors, roles, factories, values),
        # with what it names and where it is described, so a clash names both places.
        self.claims: dict[str, tuple[str, Location]] = {}

    def catalog(self) -> Catalog:
        return Catalog(
            tuple(self.descriptions), self.interfaces, self.builders, self.adapters, self.parents
        )

    def check_contracts(self) -> Iterator[DescriptionError]:
        """Names, imports, interfaces, builders with their implementations, parents."""
        yield from self._index()
        for description in self.descriptions:
            yield from self._check_imports(description)
            for interface in description.interfaces:
                yield from self._check_interface(description, interface)
            for builder in description.builders:
                yield from self._check_builder(description, builder)
            for contribution in description.contributions:
                found = self.builders.get(contribution.builder)
                if found is not None:
                    yield from self._check_implementation(
                        description, found[0], contribution.implementation
                    )
            if description.parent is not None:
                yield from self._check_parent(description, description.parent)

    # -- names -------------------------------------------------------------------------------

    def _index(self) -> Iterator[DescriptionError]:
        modules: dict[str, Description] = {}
        for description in self.descriptions:
            top = Location(description.file, "/module")
            other = modules.get(description.module)
            if other is not None:
                yield error(
                    top,
                    f"module {description.module!r} is also generated from {other.file}: /module",
                    "give each description its own module name (module names are unique across "
                    "the bundled descriptions and yours)",
                )
            modules[description.module] = description
            if description.module == naming.SUPPORT_MODULE:
                yield error(
                    top,
                    f"module name {description.module!r} is reserved for generated run-time checks",
                    "choose another module name",
                )
            for interface in description.interfaces:
                yield from self._claim(interface.name, interface.location, "Interface Protocol")
                self.interfaces.setdefault(interface.name, (interface, description))
            for builder in description.builders:
                yield from self._claim(builder.name, builder.location, "Builder Protocol")
                self.builders.setdefault(builder.name, (builder, description))
                for implementation in builder.implementations:
                    yield from self._add_adapter(builder, implementation, description)
            if description.parent is not None:
                constructor = naming.submodules_constructor_name(description.parent.submodules)
                what = f"typed constructor of {description.parent.submodules}"
                yield from self._claim(constructor, description.parent.location, what)
                self.constructors[constructor] = description
                for name in lifted_names(description.parent):
                    what = f"lifted subclass of {description.parent.class_name}"
                    yield from self._claim(name, description.parent.location, what)
                    self.constructors[name] = description
                qualified = description.import_map().get(description.parent.class_name)
                if qualified is not None:
                    self.parents[qualified] = (description.parent, description)
        # Contributions name builders of any description, so they come once all are indexed.
        for description in self.descriptions:
            for contribution in description.contributions:
                found = self.builders.get(contribution.builder)
                if found is None:
                    close = difflib.get_close_matches(contribution.builder, self.builders, n=3)
                    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
                    yield error(
                        Location(
                            contribution.implementation.location.file,
                            contribution.implementation.location.pointer + "/builder",
                        ),
                        f"implementation {contribution.implementation.object!r} is added to "
                        f"unknown builder {contribution.builder!r}{hint}",
                        "name a Builder described in schemas/megatron_core/ or in one of your "
                        "description folders",
                    )
                    continue
                yield from self._add_adapter(found[0], contribution.implementation, description)

    def _add_adapter(
        self, builder: Builder, implementation: Implementation, description: Description
    ) -> Iterator[DescriptionError]:
        """Indexes the adapter of `implementation` for `builder`, generated in `description`."""
        name = naming.adapter_name(builder, implementation)
        what = f"adapter of {implementation.object} for {builder.name}"
        yield from self._claim(name, implementation.location, what)
        self.adapters.setdefault(name, Adapter(name, builder, implementation, description))

    def _claim(self, name: str, location: Location, what: str) -> Iterator[DescriptionError]:
        """Records that `location` generates `name` (`what`: the kind of thing); a second claim
        is an error at the second place that names the first."""
        claimed = self.claims.get(name)
        if claimed is None:
            self.claims[name] = (what, location)
            return
        other_what, other = claimed
        fix = (
            "rename one of them: generated names are unique across all descriptions (the "
            "bundled ones in schemas/megatron_core/ and yours)"
        )
        if what.startswith("adapter") and other_what.startswith("adapter"):
            fix = (
                "describe each implementation of a Builder once (a spec can use the existing "
                "adapter), or import your class under another local name (the adapter is named "
                "after it)"
            )
        yield error(
            location,
            f"duplicate generated name {name!r}: this {what} and the {other_what} described "
            f"in {other.file} at {other.pointer or '/'} would both be named {name!r}",
            fix,
        )

    def claimed_by(self, name: str) -> str:
        """Where a generated name is described, for messages: `the X in FILE at POINTER`."""
        what, location = self.claims[name]
        return f"the {what} described in {location.file} at {location.pointer or '/'}"

    def _is_known(self, description: Description, name: str) -> bool:
        """`name` may appear in the description's type expressions. (A lookup per name: a set
        of every generated name built per expression made validation quadratic in size.)"""
        return (
            name in BUILTIN_TYPES
            or any(local == name for local, _ in description.imports)
            or name in self.interfaces
            or name in self.builders
            or name in self.adapters  # a factory may return a concrete adapter type
        )

    # -- imports and expressions -------------------------------------------------------------

    def _check_imports(self, description: Description) -> Iterator[DescriptionError]:
        for name, dotted in description.imports:
            if name in self.interfaces or name in self.builders or name in self.adapters:
                yield error(
                    Location(description.file, f"/imports/{name}"),
                    f"import {name!r} shadows a generated name: {self.claimed_by(name)}",
                    "import it under another local name",
                )
            yield from _check_import_path(
                Location(description.file, f"/imports/{name}"),
                dotted,
                naming.import_packages(description.package),
            )

    def _check_type(
        self, description: Description, text: str, location: Location
    ) -> Iterator[DescriptionError]:
        try:
            checked = check_type_expression(text)
        except ExpressionError as problem:
            yield error(
                location,
                str(problem),
                "use only names, attributes, subscripts, `|`, None and Literal[...] values",
            )
            return
        for name in sorted(n for n in checked.names if not self._is_known(description, n)):
            yield error(
                location,
                f"unknown type name {name!r} in {text!r}",
                f"add {name!r} to the description's imports",
            )

    def _check_value(
        self,
        description: Description,
        text: str,
        location: Location,
        local_names: frozenset[str] = frozenset(),
    ) -> Iterator[DescriptionError]:
        """`local_names`: names besides the imports that the value may use (parameters)."""
        try:
            checked = check_value_expression(text)
        except ExpressionError as problem:
            yield error(
                location, str(problem), "use a literal or an imported name (with attributes)"
            )
            return
        for name in sorted(checked.names - set(description.import_map()) - local_names):
            yield error(
                location,
                f"unknown name {name!r} in value {text!r}",
                f"add {name!r} to the description's imports",
            )

    def _check_parameters(
        self, description: Description, parameters: tuple[Parameter, ...]
    ) -> Iterator[DescriptionError]:
        seen: set[str] = set()
        order = [
            ParameterKind.POSITIONAL,
            ParameterKind.POSITIONAL_OR_KEYWORD,
            ParameterKind.KEYWORD,
        ]
        last_kind = 0
        saw_default = False
        for parameter in parameters:
            if parameter.name in seen:
                yield error(
                    parameter.location,
                    f"duplicate parameter {parameter.name!r}",
                    "remove or rename the duplicate",
                )
            seen.add(parameter.name)
            problem = identifiers.problem(parameter.name)
            if problem is not None:
                yield error(parameter.location, *problem)
            kind = order.index(parameter.kind)
            if kind < last_kind:
                yield error(
                    parameter.location,
                    f"{parameter.kind.value} parameter {parameter.name!r} follows a later kind",
                    "order parameters: positional, positional_or_keyword, keyword",
                )
            last_kind = kind
            if parameter.kind is not ParameterKind.KEYWORD:
                if parameter.default is None and saw_default:
                    yield error(
                        parameter.location,
                        f"parameter {parameter.name!r} without a default follows one with a default",
                        "give it a default or move it",
                    )
                saw_default = saw_default or parameter.default is not None
            if parameter.conditionally_passed and parameter.default is None:
                yield error(
                    parameter.location,
                    f"parameter {parameter.name!r} is passed conditionally but has no default",
                    "give it the default the implementation uses when the parent omits it",
                )
            yield from self._check_type(description, parameter.type, parameter.location)
            if parameter.default is not None:
                yield from self._check_value(description, parameter.default, parameter.location)

    def _check_interface(
        self, description: Description, interface: Interface
    ) -> Iterator[DescriptionError]:
        names = [m.name for m in interface.methods] + [a.name for a in interface.attributes]
        for name in sorted({n for n in names if names.count(n) > 1}):
            yield error(
                interface.location,
                f"member {name!r} is described twice",
                "keep one description per member",
            )
        for method in interface.methods:
            yield from self._check_parameters(description, method.parameters)
            yield from self._check_type(description, method.returns, method.location)
        for attribute in interface.attributes:
            yield from self._check_type(description, attribute.type, attribute.location)

    # -- builders and implementations --------------------------------------------------------

    def _check_builder(
        self, description: Description, builder: Builder
    ) -> Iterator[DescriptionError]:
        yield from self._check_parameters(description, builder.parameters)
        if builder.returns not in self.interfaces:
            yield error(
                builder.location,
                f"builder returns unknown interface {builder.returns!r}",
                "describe that interface or name an existing one",
            )
        objects = [i.object for i in builder.implementations]
        for implementation in builder.implementations:
            if objects.count(implementation.object) > 1:
                yield error(
                    implementation.location,
                    f"implementation {implementation.object!r} is listed twice",
                    "list each implementation once",
                )
            yield from self._check_implementation(description, builder, implementation)

    def _check_implementation(
        self, description: Description, builder: Builder, implementation: Implementation
    ) -> Iterator[DescriptionError]:
        at = implementation.location
        if implementation.object not in description.import_map():
            yield error(
                at,
                f"implementation {implementation.object!r} is not imported",
                f"add {implementation.object!r} to the description's imports",
            )
        parameters = {p.name: p for p in builder.parameters}
        mapped = {m.parameter for m in implementation.mappings}
        for missing in [p.name for p in builder.parameters if p.name not in mapped]:
            yield error(
                Location(at.file, at.pointer + "/arguments"),
                f"builder parameter {missing!r} of {builder.name} is not mapped for {implementation.object}",
                f'add "{missing}": "pass" (or "drop", {{"rename": ...}}, {{"derive": ...}})',
            )
        produced: list[str] = []
        positional_gap = False
        for mapping in ordered_mappings(builder, implementation):
            parameter = parameters.get(mapping.parameter)
            if parameter is None:
                yield error(
                    mapping.location,
                    f"{mapping.parameter!r} is not a parameter of {builder.name}",
                    "map only the builder's parameters",
                )
                continue
            if mapping.kind is MappingKind.PASS:
                produced.append(mapping.parameter)
                if parameter.kind is ParameterKind.POSITIONAL and positional_gap:
                    yield error(
                        mapping.location,
                        f"positional {mapping.parameter!r} would shift into an earlier position",
                        'pass it by name with {"rename": ...} or keep the earlier positional parameters',
                    )
            elif parameter.kind is ParameterKind.POSITIONAL:
                positional_gap = True
            for target, expression in mapping.targets:
                produced.append(target)
                problem = identifiers.problem(target)
                if problem is not None:
                    yield error(mapping.location, *problem)
                if mapping.kind is MappingKind.DERIVE:
                    yield from self._check_derivation(
                        mapping.parameter, expression, mapping.location
                    )
            if (
                builder.construction is Construction.BUILD_MODULE
                and implementation.kind is ImplementationKind.CLASS
                and mapping.kind is not MappingKind.PASS
            ):
                yield error(
                    mapping.location,
                    f"build_module passes {mapping.parameter!r} unchanged to {implementation.object}; it cannot {mapping.kind.value} it",
                    'use "pass", or describe the slot as a direct call',
                )
            if (
                implementation.kind is ImplementationKind.UNBUILT
                and mapping.kind is not MappingKind.DROP
            ):
                yield error(
                    mapping.location,
                    f"{implementation.object} is returned unbuilt, so {mapping.parameter!r} never reaches it",
                    'map it as "drop"',
                )
        for fixed in implementation.fixed:
            produced.append(fixed.name)
            if fixed.name == "submodules":
                yield error(
                    fixed.location,
                    "a fixed parameter cannot be named 'submodules'",
                    'describe the Submodules dataclass under "submodules" instead',
                )
            if (
                builder.construction is Construction.BUILD_MODULE
                and fixed.name in naming.MODULE_SPEC_ATTRIBUTES
            ):
                yield error(
                    fixed.location,
                    f"fixed parameter {fixed.name!r} clashes with a ModuleSpec attribute",
                    "build_module cannot pass it; rename is impossible here, so describe the slot as a direct call",
                )
        yield from self._check_parameters(description, implementation.fixed)
        if implementation.submodules is not None:
            produced.append(implementation.submodules.argument)
            yield from self._check_type(description, implementation.submodules.type, at)
            if implementation.submodules.as_spec and builder.construction is Construction.CALL:
                yield error(at, "as_spec needs a build_module builder", "remove as_spec")
        for name in sorted({n for n in produced if produced.count(n) > 1}):
            yield error(
                at,
                f"argument {name!r} of {implementation.object} is produced twice",
                "map each implementation argument from one source only",
            )
        if implementation.kind is ImplementationKind.UNBUILT:
            if builder.construction is not Construction.BUILD_MODULE:
                yield error(
                    at,
                    f"{implementation.object} is 'unbuilt' but {builder.name} is called directly",
                    'only build_module returns functions unbuilt; use "class" or a build_module builder',
                )
            if implementation.fixed or implementation.submodules:
                yield error(
                    at, "an unbuilt function takes no fixed parameters or submodules", "remove them"
                )
        elif implementation.unannotated and (
            implementation.fixed
            or implementation.submodules
            or builder.construction is Construction.BUILD_MODULE
        ):
            yield error(
                at,
                "an unannotated class is bound to its Builder and called as is",
                "remove its fixed parameters and submodules, or describe it as annotated",
            )

    def _check_derivation(
        self, parameter: str, expression: str, location: Location
    ) -> Iterator[DescriptionError]:
        try:
            path = attribute_path(expression)
        except ExpressionError as problem:
            yield error(
                location,
                str(problem),
                f'derive from an attribute of {parameter!r}, e.g. "{parameter}.tp"',
            )
            return
        if path[0] != parameter:
            yield error(
                location,
                f"derivation {expression!r} does not start from {parameter!r}",
                f"write it as {parameter}.<attribute>",
            )

    # -- parents and specs -------------------------------------------------------------------

    def _check_parent(self, description: Description, parent: Parent) -> Iterator[DescriptionError]:
        imports = description.import_map()
        for name in (parent.class_name, parent.submodules):
            if name not in imports:
                yield error(
                    parent.location,
                    f"{name!r} is not imported",
                    f"add {name!r} to the description's imports",
                )
        seen: set[str] = set()
        for field in parent.fields:
            if field.name in seen:
                yield error(field.location, f"duplicate field {field.name!r}", "describe it once")
            seen.add(field.name)
            yield from self._check_type(description, field.type, field.location)
        for slot in parent.slots:
            if slot.name in seen:
                yield error(
                    slot.location,
                    f"duplicate slot {slot.name!r} in {parent.submodules}",
                    "describe each slot once",
                )
            seen.add(slot.name)
            if slot.builder not in self.builders:
                yield error(
                    slot.location,
                    f"slot {slot.name!r} uses unknown builder {slot.builder!r}",
                    "describe that builder or name an existing one",
                )
            if slot.placeholder is not None and slot.placeholder not in imports:
                yield error(
                    slot.location,
                    f"{slot.placeholder!r} is not imported",
                    "add it to the imports",
                )
            for accepted, _ in slot.also_accepts:
                yield from self._check_type(description, accepted, slot.location)
            if slot.default is not None:
                yield from self._check_value(description, slot.default, slot.location)
                if slot.default == "None" and not slot.optional:
                    yield error(
                        slot.location,
                        f"slot {slot.name!r} defaults to None but is not optional",
                        'mark it "optional": true (say in its doc when the parent leaves it unused)',
                    )
        if parent.lifted is not None:
            yield from self._check_parameters(description, parent.lifted.parameters)
            for parameter in parent.lifted.parameters:
                yield from self._check_type(description, parameter.type, parameter.location)
            yield from check_lifted(self, parent, parent.lifted)
