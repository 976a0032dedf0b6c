"""Stage 4 (specs): views of typed Submodules constructors and spec factories."""

from dataclasses import dataclass

from generator import naming
from generator.expressions import check_condition_expression
from generator.model import (
    AdapterValue,
    CallValue,
    Check,
    CheckKind,
    ChoiceValue,
    Construction,
    ExpressionValue,
    ListValue,
    Parent,
    ProvidedValue,
    RoleValue,
    Slot,
    SpecFactory,
    SpecValue,
    SubmodulesValue,
)
from generator.model_lifted import LiftedSlot
from generator.validate_contracts import find_parent
from generator.view_context import (
    LINE_LENGTH,
    PACKAGE,
    SUPPORT_MODULE,
    SpecArgument,
    ViewContext,
    comment_lines,
    wrapped_lines,
)


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
    statements: tuple[str, ...]  # checks and derived values, in order; may span lines
    result: str


@dataclass(frozen=True)
class ValueView:
    """A module-level value of an upstream name (`name: type = factory()`)."""

    name: str
    type: str
    factory: str
    comment: tuple[str, ...]  # the description's doc as `#:` comment lines


class SpecViews(ViewContext):
    """Views of the code that composes specs: Submodules constructors and factories."""

    def _constructor_views(self) -> tuple[ConstructorView, ...]:
        """The typed constructor of the described parent's Submodules and, when the parent has
        lifted slots, of the generated Submodules subclass that adds them."""
        parent = self.description.parent
        if parent is None:
            return ()
        upstream = self._name(parent.submodules)
        views = [self._constructor_view(parent, parent.submodules, upstream, ())]
        if parent.lifted is not None:
            subclass = naming.lifted_submodules_name(parent.class_name)
            views.append(self._constructor_view(parent, subclass, subclass, parent.lifted.slots))
        return tuple(views)

    def _constructor_view(
        self, parent: Parent, dataclass_name: str, returns: str, lifted: tuple[LiftedSlot, ...]
    ) -> ConstructorView:
        parameters: list[str] = []
        arguments: list[SpecArgument] = []
        args_doc: list[tuple[str, tuple[str, ...]]] = []
        for slot in parent.slots:
            annotation = self._name(slot.builder)
            if slot.placeholder is not None:
                annotation += f" | type[{self._name(slot.placeholder)}]"
            for accepted, _ in slot.also_accepts:
                annotation += f" | {self._type(accepted)}"
            if slot.is_list:
                annotation = f"{self.imports.name('collections.abc', 'Sequence')}[{annotation}]"
            if slot.optional:
                annotation += " | None"
            default = f" = {self._value(slot.default)}" if slot.default is not None else ""
            parameters.append(f"{slot.name}: {annotation}{default}")
            arguments.append(self._slot_argument(slot))
            doc = " ".join([slot.doc, *(f"Also {t}: {why}" for t, why in slot.also_accepts)])
            args_doc.append((slot.name, self._arg_doc(slot.name, doc)))
        for field in parent.fields:
            parameters.append(f"{field.name}: {self._type(field.type)} | None = None")
            fresh = f"{field.default_factory}()"
            value = f"{field.name} if {field.name} is not None else {fresh}"
            arguments.append(SpecArgument(field.name, value))
            args_doc.append((field.name, self._arg_doc(field.name, field.doc)))
        for item in lifted:
            default = f"{self._name(item.default)}()"
            parameters.append(f"{item.name}: {self._name(item.builder)} = {default}")
            arguments.append(SpecArgument(item.name, item.name))
            doc = f"{item.doc} Lifted: upstream's {parent.class_name} hard-codes it."
            args_doc.append((item.name, self._arg_doc(item.name, doc)))
        if lifted:
            doc = (
                f"Typed constructor of {dataclass_name}: upstream's {parent.submodules} plus the "
                f"lifted slots ({', '.join(i.name for i in lifted)}), which only "
                f"{naming.lifted_class_name(parent.class_name)} builds; every slot is typed by "
                "the Builder it is built with, so pyright rejects a wrong implementation in any "
                "slot. Defaults are upstream's (for a lifted slot: the class upstream hard-codes)."
            )
        else:
            doc = (
                f"Typed constructor of {dataclass_name}: returns upstream's own dataclass, with "
                "each slot typed by the Builder the parent builds it with, so pyright rejects a "
                "wrong implementation in any slot. Defaults are upstream's."
            )
        return ConstructorView(
            name=naming.submodules_constructor_name(dataclass_name),
            signature=", ".join(["*", *parameters]),
            returns=returns,
            doc=wrapped_lines(doc, LINE_LENGTH - 4 - len('"""')),
            args_doc=tuple(args_doc),
            arguments=tuple(arguments),
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

    def _factory_view(self, spec: SpecFactory, *, method: bool = False) -> FactoryView:
        """A spec factory, or (`method`) the body of a provider method."""
        statements = [self._check_statement(check) for check in spec.checks]
        statements += [f"{name} = {self._spec_value(value)}" for name, value in spec.lets]
        return FactoryView(
            name=spec.name,
            signature=self._signature(spec.parameters, self_first=method),
            returns=self._type(spec.returns),
            doc=wrapped_lines(spec.doc, LINE_LENGTH - (8 if method else 4) - len('"""')),
            args_doc=tuple((p.name, self._arg_doc(p.name, p.doc or "")) for p in spec.parameters),
            statements=tuple(statements),
            result=self._spec_value(spec.body),
        )

    def _value_views(self) -> tuple[ValueView, ...]:
        factories = {spec.name: spec for spec in self.description.specs}
        return tuple(
            ValueView(
                name=value.name,
                type=self._type(factories[value.factory].returns),
                factory=value.factory,
                comment=comment_lines(value.doc, LINE_LENGTH - len("#: ")),
            )
            for value in self.description.values
        )

    def _check_statement(self, check: Check) -> str:
        """`if <condition>:` and the raise or warning upstream makes in that case."""
        condition = self._condition(check.condition)
        if check.kind is CheckKind.WARNING:
            warn = self.imports.name("warnings", "warn")
            return f"if {condition}:\n    {warn}({check.message!r}, stacklevel=2)"
        return f"if {condition}:\n    raise {check.kind.value}({check.message!r})"

    def _condition(self, text: str) -> str:
        checked = check_condition_expression(text, naming.SUPPORT_PREDICATES)
        for name in sorted(checked.names & naming.SUPPORT_PREDICATES):
            self.imports.name(f"{PACKAGE}.{SUPPORT_MODULE}", name)
        self._import_expression_names(checked.names - naming.SUPPORT_PREDICATES)
        return checked.source

    def _submodules_expression(self, value: SubmodulesValue) -> str:
        found = find_parent(self.catalog.parents, self.local_imports[value.parent])
        assert found is not None, value.parent  # validated
        parent, owner, lifted = found
        dataclass_name = (
            naming.lifted_submodules_name(parent.class_name) if lifted else parent.submodules
        )
        constructor = self._generated(naming.submodules_constructor_name(dataclass_name), owner)
        arguments = [f"{slot}={self._spec_value(slot_value)}" for slot, slot_value in value.slots]
        for field, items in value.fields:
            pairs = ", ".join(f"{key!r}: {text!r}" for key, text in items)
            arguments.append(f"{field}={{{pairs}}}")
        return f"{constructor}({', '.join(arguments)})"

    def _call_target(self, target: str) -> str:
        if target in naming.SUPPORT_FUNCTIONS:
            return self.imports.name(f"{PACKAGE}.{SUPPORT_MODULE}", target)
        providers = self.catalog.providers
        if providers is not None and target in providers[0].generated_names:
            return self._generated(target, providers[1])
        owner = next(d for d in self.catalog.descriptions if any(s.name == target for s in d.specs))
        return self._generated(target, owner)

    def _spec_value(self, value: SpecValue) -> str:
        match value:
            case None:
                return "None"
            case ChoiceValue():
                then, otherwise = self._spec_value(value.then), self._spec_value(value.otherwise)
                return f"({then} if {self._condition(value.condition)} else {otherwise})"
            case AdapterValue():
                arguments: list[str] = []
                if value.submodules is not None:
                    arguments.append(f"submodules={self._spec_value(value.submodules)}")
                arguments.extend(f"{name}={self._value(text)}" for name, text in value.fixed)
                return f"{self._name(value.adapter)}({', '.join(arguments)})"
            case SubmodulesValue():
                return self._submodules_expression(value)
            case CallValue():
                arguments = [
                    f"{name}={self._value(argument) if isinstance(argument, str) else self._spec_value(argument)}"
                    for name, argument in value.arguments
                ]
                return f"{self._call_target(value.target)}({', '.join(arguments)})"
            case ExpressionValue():
                return self._value(value.text)
            case ListValue():
                return f"[{', '.join(self._spec_value(item) for item in value.items)}]"
            case RoleValue():
                fields = ", ".join(f"{n}={self._spec_value(v)}" for n, v in value.fields)
                return f"{self._name(value.role)}({fields})"
            case ProvidedValue():
                return self._provided_expression(value)

    def _provided_expression(self, value: ProvidedValue) -> str:
        """`by.method(...)`, or its role's field; a role that may be None is checked first
        (not_none), as upstream asserts where it uses the method's result."""
        arguments = ", ".join(f"{name}={self._value(text)}" for name, text in value.arguments)
        call = f"{self._value(value.by)}.{value.method}({arguments})"
        if value.field is None:
            return call
        providers = self.catalog.providers
        method = (
            next(m for m in providers[0].methods if m.name == value.method) if providers else None
        )
        if method is not None and method.returned[1]:
            call = f"{self.imports.name(f'{PACKAGE}.{SUPPORT_MODULE}', 'not_none')}({call})"
        return f"{call}.{value.field}"
