"""Drift between the bundled descriptions and a megatron-core source tree, per slot.

The comparison behind `python -m generator check`. Everything upstream is read with
generator/upstream/source.py (ast, no import); the descriptions come validated (a Catalog).
This module covers the Submodules classes, their fields and the parents' call sites;
generator/commands/drift_signatures.py covers implementations, interfaces and Protocol pairs.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.model import Builder, Description, Parameter, ParameterKind, Parent, Slot
from generator.upstream import source as src
from generator.validate import Catalog


@dataclass(frozen=True, order=True)
class Drift:
    """One difference between a description and the source."""

    slot: str  # `Dataclass.slot`, or the Submodules class for class-level drift
    kind: str
    detail: str
    file: str  # megatron/core/... (or the description's file when upstream has nothing)
    line: int  # 0 when there is no line to point at

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def as_json(self) -> dict[str, str | int]:
        return {
            "kind": self.kind,
            "slot": self.slot,
            "detail": self.detail,
            "file": self.file,
            "line": self.line,
        }


# The kinds, in the order the table shows them.
KINDS = (
    "submodules-added",
    "submodules-removed",
    "parent-missing",
    "slot-added",
    "slot-removed",
    "annotation",
    "default",
    "list",
    "no-call-site",
    "construction",
    "positional",
    "now-passed",
    "no-longer-passed",
    "conditional",
    "implementation-missing",
    "implementation-signature",
    "interface-method",
    "protocol-removed",
)


@dataclass(frozen=True)
class DescribedSlot:
    """A slot of a description, with the upstream names its description points at."""

    parent: Parent
    description: Description
    slot: Slot

    @property
    def submodules(self) -> str:
        """Fully qualified Submodules class, from the description's imports."""
        return self.description.import_map().get(self.parent.submodules, self.parent.submodules)

    @property
    def parent_class(self) -> str:
        return self.description.import_map().get(self.parent.class_name, self.parent.class_name)

    @property
    def label(self) -> str:
        return f"{self.parent.submodules}.{self.slot.name}"


def described_slots(catalog: Catalog) -> list[DescribedSlot]:
    return [
        DescribedSlot(parent, description, slot)
        for parent, description in catalog.parents.values()
        for slot in parent.slots
    ]


def _where(path: Path, line: int) -> tuple[str, int]:
    return src.relative(path), line


def _normalized(expression: str) -> str:
    try:
        return ast.unparse(ast.parse(expression, mode="eval").body)
    except SyntaxError:
        return expression


# --- Submodules classes and their fields ----------------------------------------------------


def structure(catalog: Catalog) -> Iterator[Drift]:
    """New or removed Submodules classes and slots; changed annotation, default, list-ness."""
    upstream = src.upstream_slots()
    by_key = {slot.key: slot for slot in upstream}
    upstream_classes = {slot.dataclass.qualname: slot.dataclass for slot in upstream}
    by_name: dict[str, list[str]] = {}
    for qualname, ref in upstream_classes.items():
        by_name.setdefault(ref.name, []).append(qualname)
    described = described_slots(catalog)
    described_classes: dict[str, Parent] = {}
    seen: set[str] = set()
    for item in described:
        ref = src.resolve_dotted(item.submodules)
        qualname = ref.qualname if ref is not None else item.submodules
        described_classes.setdefault(qualname, item.parent)
        seen.add(f"{qualname}.{item.slot.name}")
    for qualname, ref in sorted(upstream_classes.items()):
        if qualname in described_classes:
            continue
        fields = [s.name for s in upstream if s.dataclass.qualname == qualname]
        file, line = _where(ref.path, ref.node.lineno)
        yield Drift(
            ref.name,
            "submodules-added",
            f"{qualname} ({len(fields)} slots: {', '.join(fields)}) has no description",
            file,
            line,
        )
    for qualname, parent in sorted(described_classes.items()):
        if qualname in upstream_classes:
            continue
        elsewhere = [q for q in by_name.get(parent.submodules, []) if q not in described_classes]
        moved = f"; a class of that name is at {', '.join(elsewhere)}" if elsewhere else ""
        yield Drift(
            parent.submodules,
            "submodules-removed",
            f"{qualname} is not a Submodules class upstream{moved}",
            parent.location.file,
            0,
        )
    for item in described:
        if src.resolve_dotted(item.parent_class) is None and item.slot is item.parent.slots[0]:
            yield Drift(
                item.parent.submodules,
                "parent-missing",
                f"parent class {item.parent_class} is not found upstream",
                item.parent.location.file,
                0,
            )
    for slot in upstream:
        if slot.dataclass.qualname in described_classes and slot.key not in seen:
            file, line = _where(slot.dataclass.path, slot.line)
            yield Drift(
                slot.short,
                "slot-added",
                f"new field `{slot.name}: {slot.annotation_text}`"
                + (f" = {slot.default_text}" if slot.default_text else ""),
                file,
                line,
            )
    for item in described:
        ref = src.resolve_dotted(item.submodules)
        if ref is None:
            continue  # reported as submodules-removed
        found = by_key.get(f"{ref.qualname}.{item.slot.name}")
        if found is None:
            file, line = _where(ref.path, ref.node.lineno)
            yield Drift(
                item.label,
                "slot-removed",
                f"{ref.name} has no field {item.slot.name!r}",
                file,
                line,
            )
            continue
        yield from _field(item, found)


def _field(item: DescribedSlot, upstream: src.UpstreamSlot) -> Iterator[Drift]:
    file, line = _where(upstream.dataclass.path, upstream.line)
    protocols = upstream.builder_protocols
    annotation = upstream.annotation_text
    if item.slot.upstream_typed != bool(protocols):
        yield Drift(
            item.label,
            "annotation",
            f"described upstream_typed={item.slot.upstream_typed}, upstream annotates "
            f"`{annotation}`",
            file,
            line,
        )
    elif protocols and item.slot.builder not in protocols:
        yield Drift(
            item.label,
            "annotation",
            f"builder {item.slot.builder} is not among the Protocols upstream annotates "
            f"(`{annotation}`)",
            file,
            line,
        )
    claimed = item.slot.default
    actual = upstream.default_text
    if claimed is not None and (actual is None or _normalized(claimed) != actual):
        yield Drift(
            item.label,
            "default",
            f"described default {claimed}, upstream "
            + (f"`= {actual}`" if actual is not None else "has none"),
            file,
            line,
        )
    elif claimed is None and actual is not None:
        # A no-op default on a slot the description treats as required may be left out.
        no_op = actual in ("None", "IdentityOp")
        if not (no_op and not item.slot.optional and item.slot.placeholder is None):
            yield Drift(
                item.label,
                "default",
                f"no default described, upstream `= {actual}`",
                file,
                line,
            )
    if item.slot.is_list != upstream.is_list:
        yield Drift(
            item.label,
            "list",
            f"described as {'a list' if item.slot.is_list else 'a single module'}, upstream "
            f"annotates `{annotation}`",
            file,
            line,
        )


# --- call sites -----------------------------------------------------------------------------


def call_sites(catalog: Catalog) -> Iterator[Drift]:
    """Per described slot: the Builder against the parent's call sites."""
    for item in described_slots(catalog):
        ref = src.resolve_dotted(item.submodules)
        parent = src.resolve_dotted(item.parent_class)
        if ref is None or parent is None:
            continue  # reported by structure()
        upstream = next(
            (s for s in src.upstream_slots() if s.key == f"{ref.qualname}.{item.slot.name}"), None
        )
        if upstream is None:
            continue
        found = src.find_sites(parent, upstream.name, upstream.is_list)
        summary = found.summary
        if not summary.sites:
            file, line = _where(parent.path, parent.node.lineno)
            yield Drift(
                item.label,
                "no-call-site",
                f"{', '.join(found.searched)} never build{'s' if len(found.searched) == 1 else ''}"
                f" {upstream.name}",
                file,
                line,
            )
            continue
        builder = catalog.builders.get(item.slot.builder)
        if builder is not None:
            yield from builder_drift(item.label, builder[0], summary)


def builder_drift(label: str, builder: Builder, summary: src.SiteSummary) -> Iterator[Drift]:
    """What the Builder's parameters say against what the call sites pass."""
    first = summary.sites[0]
    file, line = _where(first.path, first.line)
    if builder.construction.value != summary.construction:
        yield Drift(
            label,
            "construction",
            f"described {builder.construction.value}, the parent uses {summary.construction}",
            file,
            line,
        )
    params = builder.parameters
    positional_only = [p for p in params if p.kind is ParameterKind.POSITIONAL]
    either = [p for p in params if p.kind is ParameterKind.POSITIONAL_OR_KEYWORD]
    passed = summary.positional
    by_position: list[Parameter]
    if not len(positional_only) <= passed <= len(positional_only) + len(either):
        site = max(summary.sites, key=lambda s: s.positional)
        yield Drift(
            label,
            "positional",
            f"{len(positional_only)} positional-only (+{len(either)} positional-or-keyword) "
            f"parameters described, the parent passes {passed} positional arguments",
            *_where(site.path, site.line),
        )
        by_position = positional_only + either
    else:
        by_position = positional_only + either[: passed - len(positional_only)]
    by_keyword = {p.name for p in params if p not in by_position}
    for name in sorted(summary.keywords - by_keyword):
        site = next(s for s in summary.sites if name in s.keywords)
        yield Drift(
            label,
            "now-passed",
            f"the parent passes {name}=, {builder.name} has no such keyword parameter",
            *_where(site.path, site.line),
        )
    for name in sorted(by_keyword - summary.keywords):
        yield Drift(
            label,
            "no-longer-passed",
            f"{builder.name} parameter {name} is never passed by the parent",
            file,
            line,
        )
    omitted = by_position[len(by_position) - summary.conditional_positional :]
    expected = (set(summary.conditional_keywords) & by_keyword) | {p.name for p in omitted}
    claimed = {p.name for p in params if p.conditionally_passed}
    for name in sorted(expected - claimed):
        yield Drift(
            label,
            "conditional",
            f"{name} is now passed only under a condition ({builder.name} says always)",
            file,
            line,
        )
    passed_names = set(summary.keywords) | {p.name for p in by_position}
    for name in sorted((claimed - expected) & passed_names):
        yield Drift(
            label,
            "conditional",
            f"{name} is now always passed ({builder.name} says conditionally)",
            file,
            line,
        )
