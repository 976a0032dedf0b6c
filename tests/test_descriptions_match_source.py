"""The slot descriptions agree with megatron-core 0.19.2's source, read with `ast`.

Everything upstream is taken from megatron/core's files (generator/upstream/source.py parses them; the
package is located with find_spec, never imported); nothing is taken from the descriptions
except what is being checked:

1. the inventory: 75 slots upstream, every described slot is one of them, none described twice;
2. per described slot: `upstream_typed`, `default` and `multiplicity` follow the dataclass field;
3. per described slot: the Builder follows the parent's call sites (construction, positional
   count, keyword names, which arguments are passed only under a condition);
4. per upstream slot (all 75, described or not): the call-site finder finds where the parent
   builds it, or the slot is listed below with the reason the parent never builds it.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.upstream import source as src

DESCRIPTIONS = Path(__file__).resolve().parent.parent / "schemas" / "megatron_core"
UPSTREAM_SLOT_COUNT = 75

# Slots the parent never builds from its spec, keyed by `module.Dataclass.slot`, with the reason.
NOT_BUILT_BY_PARENT: dict[str, str] = {}
# (HybridStackSubmodules.mtp_block_spec is never read by HybridStack: HybridModel reads it from
# the stack spec and hands it to MultiTokenPredictionBlock as `spec=`; generator/upstream/source.py's
# SLOT_READERS finds that call site.)

Json = dict[str, Any]


@dataclass(frozen=True)
class DescribedSlot:
    """One entry of a description's `parent.slots`, with where it points upstream."""

    file: str
    parent_class: str  # fully qualified, from the description's imports
    submodules: str  # fully qualified, from the description's imports
    data: Json

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def label(self) -> str:
        return f"{self.file}:{self.submodules.rsplit('.', 1)[-1]}.{self.name}"


def _load() -> tuple[list[DescribedSlot], dict[str, tuple[str, Json]]]:
    slots: list[DescribedSlot] = []
    builders: dict[str, tuple[str, Json]] = {}
    for path in sorted(DESCRIPTIONS.glob("*.json")):
        description: Json = json.loads(path.read_text(encoding="utf-8"))
        imports: dict[str, str] = description.get("imports", {})
        for builder in description.get("builders", []):
            builders[builder["name"]] = (path.name, builder)
        parent = description.get("parent")
        if parent is None:
            continue
        for slot in parent["slots"]:
            slots.append(
                DescribedSlot(
                    path.name,
                    str(imports.get(parent["class"], parent["class"])),
                    str(imports.get(parent["submodules"], parent["submodules"])),
                    slot,
                )
            )
    return slots, builders


DESCRIBED, BUILDERS = _load()
UPSTREAM = src.upstream_slots()
UPSTREAM_BY_KEY = {slot.key: slot for slot in UPSTREAM}


def _upstream_of(described: DescribedSlot) -> src.UpstreamSlot:
    dataclass_ref = src.resolve_dotted(described.submodules)
    if dataclass_ref is None:
        pytest.fail(f"{described.label}: {described.submodules} is not a class in megatron/core")
    upstream = UPSTREAM_BY_KEY.get(f"{dataclass_ref.qualname}.{described.name}")
    if upstream is None:
        pytest.fail(
            f"{described.label}: {dataclass_ref.name} has no field {described.name!r} upstream"
        )
    return upstream


def _parent_of(described: DescribedSlot) -> src.ClassRef:
    parent = src.resolve_dotted(described.parent_class)
    if parent is None:
        pytest.fail(f"{described.label}: parent {described.parent_class} is not found upstream")
    return parent


def _normalized(expression: str) -> str:
    return ast.unparse(ast.parse(expression, mode="eval").body)


def _sites_text(summary: src.SiteSummary) -> str:
    return ", ".join(f"{s.where} [{s.construction}]" for s in summary.sites) or "none"


# --- 1. inventory ----------------------------------------------------------------------------


def test_upstream_has_exactly_75_slots_in_its_submodules_dataclasses() -> None:
    listing = "\n".join(f"  {s.short}: {s.annotation_text}" for s in UPSTREAM)
    assert len(UPSTREAM) == UPSTREAM_SLOT_COUNT, f"{len(UPSTREAM)} slots upstream:\n{listing}"
    assert len(UPSTREAM_BY_KEY) == len(UPSTREAM), "two fields share a dataclass and a name"


def _takes(parent: src.ClassRef, dataclass_name: str) -> bool:
    """The parent's (or an inherited) __init__ takes the dataclass: a `submodules` parameter
    annotated with it, or `self.submodules = f(...)` where module-level `f` returns it
    (TransformerBlock and MultiTokenPredictionBlock take `spec` and convert it that way)."""
    for cls in (parent, *src.base_classes(parent)):
        functions = {n.name: n for n in src.parse(cls.path).body if isinstance(n, ast.FunctionDef)}
        for init in cls.node.body:
            if not (isinstance(init, ast.FunctionDef) and init.name == "__init__"):
                continue
            for arg in init.args.args + init.args.kwonlyargs:
                if arg.arg == "submodules" and arg.annotation is not None:
                    if dataclass_name in ast.unparse(arg.annotation):
                        return True
            for node in ast.walk(init):
                if (
                    isinstance(node, ast.Assign)
                    and any(ast.unparse(t) == "self.submodules" for t in node.targets)
                    and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name)
                    and node.value.func.id in functions
                ):
                    returns = functions[node.value.func.id].returns
                    if returns is not None and dataclass_name in ast.unparse(returns):
                        return True
    return False


def test_each_submodules_dataclass_has_a_parent_that_takes_it() -> None:
    dataclasses = {slot.dataclass.qualname: slot.dataclass for slot in UPSTREAM}
    assert set(src.PARENTS) == set(dataclasses), "PARENTS must name one parent per dataclass"
    problems: list[str] = []
    for qualname, dataclass_ref in dataclasses.items():
        parent = src.resolve_dotted(src.PARENTS[qualname])
        if parent is None:
            problems.append(f"{src.PARENTS[qualname]} not found")
        elif not _takes(parent, dataclass_ref.name):
            problems.append(f"{parent.name}.__init__ does not take {dataclass_ref.name}")
    assert not problems, "\n".join(problems)


def test_described_slots_are_upstream_slots_each_described_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: dict[str, str] = {}
    problems: list[str] = []
    for described in DESCRIBED:
        dataclass_ref = src.resolve_dotted(described.submodules)
        key = (
            f"{dataclass_ref.qualname if dataclass_ref else described.submodules}.{described.name}"
        )
        if key not in UPSTREAM_BY_KEY:
            problems.append(f"{described.label}: not a slot upstream ({key})")
        elif key in seen:
            problems.append(f"{described.label}: already described in {seen[key]}")
        seen.setdefault(key, described.file)
    with capsys.disabled():
        print(f"\ndescribed slots: {len(seen)} of {len(UPSTREAM)} upstream")
    assert not problems, "\n".join(problems)


# --- 2. field facts --------------------------------------------------------------------------

_IDS = [d.label for d in DESCRIBED]


@pytest.mark.parametrize("described", DESCRIBED, ids=_IDS)
def test_upstream_typed_is_true_exactly_when_upstream_annotates_a_builder_protocol(
    described: DescribedSlot,
) -> None:
    upstream = _upstream_of(described)
    protocols = upstream.builder_protocols
    claimed = bool(described.data.get("upstream_typed", False))
    assert claimed == bool(protocols), (
        f"{described.label}: upstream_typed is {claimed} but upstream annotates "
        f"`{upstream.annotation_text}` ({src.relative(upstream.dataclass.path)}:{upstream.line})"
    )
    if protocols:
        assert described.data["builder"] in protocols, (
            f"{described.label}: builder {described.data['builder']!r} is not upstream's "
            f"Protocol name {protocols} (annotation `{upstream.annotation_text}`)"
        )


@pytest.mark.parametrize("described", DESCRIBED, ids=_IDS)
def test_default_is_upstreams_field_default(described: DescribedSlot) -> None:
    """A recorded default equals upstream's; no default is recorded where upstream has none.

    One exception: upstream writes a no-op default (`= None` on 25 fields annotated
    `Union[ModuleSpec, type]` and on the `layer_specs` lists, or `= IdentityOp` where the parent
    cannot use IdentityOp, as in GatedDeltaNet's projections) on slots that need a real
    implementation. A description that
    treats such a slot as required (not optional, no placeholder) may omit that default, so the
    typed constructor demands a value; one that marks it optional must record it.
    """
    upstream = _upstream_of(described)
    where = f"{src.relative(upstream.dataclass.path)}:{upstream.line}"
    claimed = described.data.get("default")
    actual = upstream.default_text
    if claimed is not None:
        assert (
            actual is not None
        ), f"{described.label}: default {claimed!r}, upstream's field has none ({where})"
        assert (
            _normalized(claimed) == actual
        ), f"{described.label}: default {claimed!r}, upstream `= {actual}` ({where})"
    elif actual is not None:
        no_op = actual in ("None", "IdentityOp")
        required = not described.data.get("optional", False)
        assert no_op and required and "placeholder" not in described.data, (
            f"{described.label}: no default recorded, upstream "
            f"`{upstream.name}: {upstream.annotation_text} = {actual}` ({where})"
        )


@pytest.mark.parametrize("described", DESCRIBED, ids=_IDS)
def test_multiplicity_is_list_exactly_when_upstream_annotates_a_list(
    described: DescribedSlot,
) -> None:
    upstream = _upstream_of(described)
    claimed = described.data.get("multiplicity", "single") == "list"
    assert claimed == upstream.is_list, (
        f"{described.label}: multiplicity {described.data.get('multiplicity', 'single')!r}, "
        f"upstream annotates `{upstream.annotation_text}`"
    )


# --- 3. call sites ---------------------------------------------------------------------------


def _builder_differences(builder: Json, summary: src.SiteSummary) -> list[str]:
    differences: list[str] = []
    if builder.get("construction") != summary.construction:
        mixed = (
            f" (sites mix {sorted(summary.constructions)}; only a spec works with build_module)"
            if len(summary.constructions) > 1
            else ""
        )
        differences.append(
            f"construction is {builder.get('construction')!r}, the parent uses "
            f"{summary.construction!r}{mixed}"
        )
    params: list[Json] = builder.get("parameters", [])
    positional_only = [p for p in params if p["kind"] == "positional"]
    either = [p for p in params if p["kind"] == "positional_or_keyword"]
    passed = summary.positional
    if not len(positional_only) <= passed <= len(positional_only) + len(either):
        differences.append(
            f"{len(positional_only)} positional-only (+{len(either)} positional-or-keyword) "
            f"parameters, the parent passes {passed} positional arguments"
        )
        by_position = positional_only + either
    else:
        by_position = positional_only + either[: passed - len(positional_only)]
    by_keyword = {p["name"] for p in params if p not in by_position}
    missing = sorted(summary.keywords - by_keyword)
    extra = sorted(by_keyword - summary.keywords)
    if missing:
        differences.append(f"keywords the parent passes but the builder lacks: {missing}")
    if extra:
        differences.append(f"keyword parameters the parent never passes: {extra}")
    # positional arguments some site omits are the trailing ones
    omitted = by_position[len(by_position) - summary.conditional_positional :]
    expected = set(summary.conditional_keywords) | {p["name"] for p in omitted}
    claimed = {p["name"] for p in params if p.get("passed") == "conditionally"}
    if claimed != expected:
        differences.append(
            f'parameters marked "passed": "conditionally" {sorted(claimed)}, '
            f"passed only under a condition {sorted(expected)}"
        )
    return differences


@pytest.mark.parametrize("described", DESCRIBED, ids=_IDS)
def test_builder_matches_the_parents_call_sites(described: DescribedSlot) -> None:
    upstream = _upstream_of(described)
    parent = _parent_of(described)
    found = src.find_sites(parent, upstream.name, upstream.is_list)
    summary = found.summary
    builder_name = described.data["builder"]
    context = f"{described.label} (builder {builder_name}; call sites: {_sites_text(summary)})"
    assert (
        summary.sites
    ), f"{context}: no call site found in {', '.join(found.searched)} or their subclasses"
    assert not summary.unresolved, f"{context}: arguments not analysed: {summary.unresolved}"
    if builder_name not in BUILDERS:
        pytest.fail(f"{context}: builder {builder_name!r} is not described in any file")
    builder_file, builder = BUILDERS[builder_name]
    differences = _builder_differences(builder, summary)
    assert not differences, f"{context}, builder in {builder_file}:\n  " + "\n  ".join(differences)


# --- 4. every upstream slot ------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAM, ids=[s.short for s in UPSTREAM])
def test_every_upstream_slot_has_a_call_site_or_a_stated_reason(
    upstream: src.UpstreamSlot,
) -> None:
    parent = src.resolve_dotted(src.PARENTS[upstream.dataclass.qualname])
    assert parent is not None
    found = src.find_sites(parent, upstream.name, upstream.is_list)
    reason = NOT_BUILT_BY_PARENT.get(upstream.key)
    if reason is None:
        assert found.summary.sites, (
            f"{upstream.short}: no call site in {', '.join(found.searched)} or their subclasses; "
            "extend the finder or list the slot in NOT_BUILT_BY_PARENT with the reason"
        )
    else:
        assert not found.summary.sites, (
            f"{upstream.short} is listed as never built ({reason}) but has call sites: "
            f"{_sites_text(found.summary)}"
        )


@pytest.mark.parametrize("upstream", UPSTREAM, ids=[s.short for s in UPSTREAM])
def test_every_upstream_call_site_has_fully_analysed_arguments(
    upstream: src.UpstreamSlot,
) -> None:
    parent = src.resolve_dotted(src.PARENTS[upstream.dataclass.qualname])
    assert parent is not None
    summary = src.find_sites(parent, upstream.name, upstream.is_list).summary
    assert not summary.unresolved, f"{upstream.short}: {summary.unresolved}"
