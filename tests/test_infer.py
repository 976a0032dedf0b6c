"""`python -m generator infer PARENT`: a draft description from a parent's source agrees with
the committed description on everything it infers, for every bundled parent."""

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from generator.commands.draft import Draft, draft
from generator.commands.schema_check import schema_errors

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
Json = dict[str, Any]


def _committed() -> tuple[dict[str, Json], dict[str, Json]]:
    """(parent dotted class -> description, builder name -> builder) of the bundled files."""
    parents: dict[str, Json] = {}
    builders: dict[str, Json] = {}
    for path in sorted((SCHEMAS / "megatron_core").glob("*.json")):
        data: Json = json.loads(path.read_text(encoding="utf-8"))
        builders.update({b["name"]: b for b in data.get("builders", [])})
        if "parent" in data:
            parents[data["imports"][data["parent"]["class"]]] = data
    return parents, builders


PARENTS, BUILDERS = _committed()


@cache
def _draft(dotted: str) -> Draft:
    return draft(dotted)


def _by_name(items: list[Json]) -> dict[str, Json]:
    return {item["name"]: item for item in items}


@pytest.mark.parametrize("dotted", sorted(PARENTS))
def test_the_draft_validates_against_the_schema(dotted: str) -> None:
    assert not schema_errors(SCHEMAS, _draft(dotted).description)


@pytest.mark.parametrize("dotted", sorted(PARENTS))
def test_the_draft_has_the_committed_slots_defaults_list_ness_and_upstream_typing(
    dotted: str,
) -> None:
    committed = PARENTS[dotted]["parent"]
    drafted = _draft(dotted).description["parent"]
    assert drafted["submodules"] == committed["submodules"]
    assert [s["name"] for s in drafted["slots"]] == [s["name"] for s in committed["slots"]]
    for ours, theirs in zip(drafted["slots"], committed["slots"]):
        label = f"{dotted}.{theirs['name']}"
        assert ours.get("multiplicity", "single") == theirs.get("multiplicity", "single"), label
        assert ours.get("upstream_typed", False) == theirs.get("upstream_typed", False), label
        if "default" in theirs:
            assert ours.get("default") == theirs["default"], label
        else:  # a description may omit a no-op default on a slot it treats as required
            assert ours.get("default") in (None, "None", "IdentityOp"), label
        if theirs.get("upstream_typed"):
            assert ours["builder"] == theirs["builder"], label  # upstream's Protocol name


def _signature(builder: Json, named_positionals: bool) -> list[tuple[str, str, str]]:
    """(name, kind, passed) per parameter; keyword order is free, positional names optional."""
    positional = [p for p in builder["parameters"] if p["kind"] != "keyword"]
    keyword = sorted(
        (p["name"], "keyword", p.get("passed", "always"))
        for p in builder["parameters"]
        if p["kind"] == "keyword"
    )
    return [
        (p["name"] if named_positionals else f"#{i}", p["kind"], p.get("passed", "always"))
        for i, p in enumerate(positional)
    ] + keyword


@pytest.mark.parametrize("dotted", sorted(PARENTS))
def test_each_slots_builder_has_the_committed_construction_and_parameters(dotted: str) -> None:
    """Positional parameters are compared by name where upstream's Builder Protocol names them
    (upstream_typed slots); elsewhere the source only tells their count (names are a to-do)."""
    committed = PARENTS[dotted]["parent"]
    drafted = _draft(dotted).description
    builders = _by_name(drafted["builders"])
    problems: list[str] = []
    for ours, theirs in zip(drafted["parent"]["slots"], committed["slots"]):
        mine, reference = builders[ours["builder"]], BUILDERS[theirs["builder"]]
        label = f"{theirs['name']} ({ours['builder']} vs committed {theirs['builder']})"
        if mine["construction"] != reference["construction"]:
            problems.append(f"{label}: construction {mine['construction']}")
        named = bool(theirs.get("upstream_typed"))
        if _signature(mine, named) != _signature(reference, named):
            problems.append(
                f"{label}:\n    draft     {_signature(mine, named)}\n"
                f"    committed {_signature(reference, named)}"
            )
    assert not problems, "\n".join(problems)


def test_hybrid_stacks_te_norm_is_reported_as_a_lifted_slot_candidate() -> None:
    result = _draft("megatron.core.models.hybrid.hybrid_block.HybridStack")
    found = {(c.callee, c.attribute) for _, c in result.lifted}
    assert ("TENorm", "final_norm") in found
    assert any("TENorm" in item and "self.final_norm" in item for item in result.todo)


def test_the_draft_takes_types_from_upstreams_protocol_and_forwarded_parameters() -> None:
    mlp = _draft("megatron.core.transformer.mlp.MLP").description
    fc1 = _by_name(mlp["builders"])["LinearFc1Builder"]
    types = {p["name"]: p["type"] for p in fc1["parameters"]}
    assert types["config"] == "TransformerConfig"
    assert types["tp_group"] == "ProcessGroup | None"
    assert mlp["imports"]["ProcessGroup"] == "torch.distributed.ProcessGroup"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", "infer", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_the_command_prints_the_draft_and_lists_the_to_dos_on_stderr(tmp_path: Path) -> None:
    todo = tmp_path / "todo.json"
    result = _cli("megatron.core.models.hybrid.hybrid_block.HybridStack", "--todo", str(todo))
    assert result.returncode == 0, result.stderr
    description = json.loads(result.stdout)
    assert description["parent"]["class"] == "HybridStack"
    assert "to do" in result.stderr and "TENorm" in result.stderr
    report = json.loads(todo.read_text())
    assert {"class": "TENorm", "attribute": "final_norm"}.items() <= report["lifted_candidates"][
        -1
    ].items()


@pytest.mark.parametrize(
    ("parent", "message"),
    [
        ("megatron.core.transformer.mlp.NoSuchClass", "no such class"),
        ("megatron.core.transformer.mlp.MLPSubmodules", "not a parent"),
    ],
)
def test_an_unknown_class_or_a_non_parent_exits_2_without_a_traceback(
    parent: str, message: str
) -> None:
    result = _cli(parent)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_help_describes_the_command_and_its_exit_codes() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    assert "PARENT" in result.stdout and "exit status" in result.stdout
