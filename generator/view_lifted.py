"""Stage 4 (lifted slots): views of the Submodules subclass that adds a parent's lifted slots
and of the thin parent subclass that builds them from it (see generator/model_lifted.py)."""

from dataclasses import dataclass, replace

from generator import naming
from generator.expressions import check_condition_expression
from generator.model import Parameter
from generator.model_lifted import Lifted
from generator.view_context import (
    LINE_LENGTH,
    SpecArgument,
    comment_text,
    docstring_lines,
    wrapped_lines,
)
from generator.view_specs import SpecViews


@dataclass(frozen=True)
class LiftedFieldView:
    name: str
    annotation: str
    default_factory: str
    doc: str


@dataclass(frozen=True)
class LiftedView:
    """`@dataclass class <Parent>WithLiftedSlotsSubmodules(<Submodules>)` with the lifted fields,
    and `class <Parent>WithLiftedSlots(<Parent>)` whose `__init__` builds them."""

    submodules_name: str
    submodules_base: str
    submodules_doc: tuple[str, ...]
    fields: tuple[LiftedFieldView, ...]
    class_name: str
    class_base: str
    class_doc: tuple[str, ...]
    signature: str
    super_comment: str  # a suppression where upstream leaves parameters unannotated, or ""
    super_arguments: tuple[SpecArgument, ...]
    statements: tuple[str, ...]  # after super().__init__; may span lines


class LiftedViews(SpecViews):
    def _lifted_views(self) -> tuple[LiftedView, ...]:
        parent = self.description.parent
        if parent is None or parent.lifted is None:
            return ()
        lifted = parent.lifted
        self.imports.name("dataclasses", "dataclass")
        self.imports.name("dataclasses", "field")
        submodules_name = naming.lifted_submodules_name(parent.class_name)
        class_name = naming.lifted_class_name(parent.class_name)
        fields = tuple(
            LiftedFieldView(
                slot.name,
                self._name(slot.builder),
                self._name(slot.default),
                " ".join(wrapped_lines(slot.doc, LINE_LENGTH)),
            )
            for slot in lifted.slots
        )
        names = ", ".join(s.name for s in lifted.slots)
        submodules_doc = (
            f"{parent.submodules} plus the slots {parent.class_name} hard-codes ({names}), built "
            f"by {class_name}. A subclass, so upstream's isinstance checks (MultiTokenPredictionLayer"
            f"'s) still hold; upstream's {parent.class_name} ignores the added fields."
        )
        return (
            LiftedView(
                submodules_name=submodules_name,
                submodules_base=self._name(parent.submodules),
                submodules_doc=docstring_lines(submodules_doc, indent=4),
                fields=fields,
                class_name=class_name,
                class_base=self._name(parent.class_name),
                class_doc=docstring_lines(self._class_doc(lifted, parent.class_name), indent=4),
                signature=self._lifted_signature(lifted, submodules_name),
                super_comment=_super_comment(lifted),
                super_arguments=self._super_arguments(lifted),
                statements=self._lifted_statements(lifted),
            ),
        )

    def _class_doc(self, lifted: Lifted, parent_class: str) -> str:
        built = "; ".join(
            f"{slot.name} (a {slot.builder}, default {slot.default}) when `{slot.when}`"
            for slot in lifted.slots
        )
        return (
            f"{lifted.doc}\n\nLifted slots, built from submodules instead of by {parent_class}: "
            f"{built}. Parameters mirror {parent_class}.__init__ (names, order, defaults)."
        )

    def _lifted_signature(self, lifted: Lifted, submodules_name: str) -> str:
        retyped = tuple(
            p if p.name != "submodules" else _retyped(p, submodules_name) for p in lifted.parameters
        )
        return self._signature(retyped, self_first=True)

    def _super_arguments(self, lifted: Lifted) -> tuple[SpecArgument, ...]:
        disabled = {s.disabled_by.argument: s.disabled_by.value for s in lifted.slots}
        unchecked = dict(lifted.unchecked)
        arguments: list[SpecArgument] = []
        for parameter in lifted.parameters:
            if parameter.name in disabled:
                value = self._value(disabled[parameter.name])
                arguments.append(SpecArgument(parameter.name, value))
            elif parameter.name in unchecked:
                reason = comment_text(unchecked[parameter.name])  # printed after `#`
                arguments.append(
                    SpecArgument(parameter.name, parameter.name, "reportArgumentType", reason)
                )
            else:
                arguments.append(SpecArgument(parameter.name, parameter.name))
        return tuple(arguments)

    def _lifted_statements(self, lifted: Lifted) -> tuple[str, ...]:
        statements: list[str] = []
        for slot in lifted.slots:
            restore = f"self.{slot.disabled_by.attribute} = {slot.disabled_by.argument}"
            if restore not in statements:
                statements.append(restore)
        for slot in lifted.slots:
            condition = check_condition_expression(slot.when).source
            arguments = ", ".join(f"{name}={self._value(value)}" for name, value in slot.arguments)
            statements.append(
                f"if {condition}:\n    self.{slot.name} = submodules.{slot.name}({arguments})"
            )
        return tuple(statements)


def _retyped(parameter: Parameter, type_name: str) -> Parameter:
    return replace(parameter, type=type_name)


def _super_comment(lifted: Lifted) -> str:
    """Parameters mirrored as `Any` are unannotated upstream: the parent's `__init__` is then
    partially unknown to pyright."""
    unannotated = [p.name for p in lifted.parameters if p.type == "Any"]
    if not unannotated:
        return ""
    return (
        "  # pyright: ignore[reportUnknownMemberType]  # upstream leaves "
        f"{', '.join(unannotated)} unannotated"
    )
