"""The rules of `breaking`: a stable ID per kind of change, who it breaks, and what it means.

Like `buf breaking`, every change between two versions of the descriptions is classified by one
rule. Who is affected:
- callers: code that calls a Builder (the parent), a spec factory, or constructs Submodules and
  names adapters;
- implementers: code that implements a Builder or an Interface (a custom module put in a slot).
A rule that breaks nobody is compatible. The IDs are stable: pyproject.toml and `--ignore` name
them.
"""

from dataclasses import dataclass
from enum import Enum


class Category(Enum):
    CALLERS = "breaking for callers"
    IMPLEMENTERS = "breaking for implementers"
    BOTH = "breaking for callers and implementers"
    COMPATIBLE = "compatible"

    @property
    def breaking(self) -> bool:
        return self is not Category.COMPATIBLE


@dataclass(frozen=True)
class Rule:
    id: str
    category: Category
    summary: str


C, I, B, OK = Category.CALLERS, Category.IMPLEMENTERS, Category.BOTH, Category.COMPATIBLE

_PARAMETER_RULES: tuple[tuple[str, tuple[Category, Category], str], ...] = (
    # suffix, (category for a Builder, for a spec factory), summary
    ("REMOVED", (C, C), "a parameter was removed: callers passing it fail"),
    (
        "RENAMED",
        (B, C),
        "a parameter was renamed (removed and added at the same position with the same type)",
    ),
    (
        "ADDED_REQUIRED",
        (I, C),
        "a parameter without default was added: Builder implementations must accept it; "
        "factory callers must pass it",
    ),
    (
        "ADDED_OPTIONAL",
        (OK, OK),
        "a parameter with a default was added (an implementation that does not accept it "
        "no longer matches a Builder under pyright: review it)",
    ),
    (
        "TYPE_NARROWED",
        (C, C),
        "the parameter's type accepts less (a union member removed): callers passing it fail",
    ),
    (
        "TYPE_WIDENED",
        (OK, OK),
        "the parameter's type accepts more (a union member added; an implementation annotated "
        "with the old type no longer matches a Builder under pyright: review it)",
    ),
    (
        "TYPE_CHANGED",
        (B, C),
        "the parameter's type changed in a way that cannot be ordered: treated as breaking",
    ),
    ("KIND_CHANGED", (B, C), "positional / keyword kind changed"),
    ("MOVED", (B, C), "a positional parameter changed position"),
    (
        "DEFAULT_REMOVED",
        (C, C),
        "the parameter lost its default: callers that omit it fail",
    ),
    (
        "DEFAULT_ADDED",
        (I, OK),
        "the parameter got a default: Builder implementations must handle its omission",
    ),
    ("DEFAULT_CHANGED", (OK, OK), "the parameter's default value changed (behaviour, not type)"),
)


def _parameter_rules(owner: str, index: int) -> list[Rule]:
    return [
        Rule(f"{owner}_PARAMETER_{suffix}", categories[index], summary)
        for suffix, categories, summary in _PARAMETER_RULES
    ]


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in [
        Rule("BUILDER_REMOVED", B, "a Builder Protocol was removed"),
        Rule("BUILDER_ADDED", OK, "a Builder Protocol was added"),
        Rule("BUILDER_RETURNS_CHANGED", B, "a Builder returns another Interface"),
        Rule("BUILDER_CONSTRUCTION_CHANGED", B, "call <-> build_module construction changed"),
        *_parameter_rules("BUILDER", 0),
        Rule("INTERFACE_REMOVED", B, "an Interface Protocol was removed"),
        Rule("INTERFACE_ADDED", OK, "an Interface Protocol was added"),
        Rule("INTERFACE_METHOD_ADDED", I, "implementations must now define the method"),
        Rule("INTERFACE_METHOD_REMOVED", C, "callers of the method fail"),
        Rule(
            "INTERFACE_METHOD_SIGNATURE_CHANGED",
            B,
            "a method's parameters or return type changed",
        ),
        Rule("INTERFACE_ATTRIBUTE_ADDED", I, "implementations must now have the attribute"),
        Rule("INTERFACE_ATTRIBUTE_REMOVED", C, "users of the attribute fail"),
        Rule("INTERFACE_ATTRIBUTE_TYPE_CHANGED", B, "an attribute's type changed"),
        Rule("PARENT_REMOVED", C, "a parent (Submodules dataclass) is no longer described"),
        Rule("PARENT_ADDED", OK, "a parent is newly described"),
        Rule("SLOT_REMOVED", C, "a slot (Submodules field) was removed: specs filling it fail"),
        Rule("SLOT_ADDED", OK, "a slot with a default was added"),
        Rule("SLOT_ADDED_REQUIRED", C, "a slot without default was added: specs must fill it"),
        Rule("SLOT_BUILDER_CHANGED", B, "a slot takes another Builder"),
        Rule("SLOT_MADE_REQUIRED", C, "a slot lost its default: specs must fill it"),
        Rule("SLOT_MULTIPLICITY_CHANGED", C, "a slot changed between one module and a list"),
        Rule("ADAPTER_REMOVED", C, "an adapter (implementation of a Builder) was removed"),
        Rule("ADAPTER_ADDED", OK, "an adapter was added"),
        Rule("FACTORY_REMOVED", C, "a spec factory was removed"),
        Rule("FACTORY_ADDED", OK, "a spec factory was added"),
        Rule("FACTORY_RETURNS_CHANGED", C, "a spec factory returns another type"),
        *_parameter_rules("FACTORY", 1),
        Rule("VALUE_REMOVED", C, "a module-level spec value was removed"),
        Rule("VALUE_ADDED", OK, "a module-level spec value was added"),
        Rule("DOC_CHANGED", OK, "documentation changed"),
    ]
}


def rules_help() -> str:
    """The rule list for `--help` and `--list-rules`."""
    width = max(len(rule_id) for rule_id in RULES)
    return "\n".join(
        f"  {rule.id:<{width}}  {rule.category.value}: {rule.summary}" for rule in RULES.values()
    )
