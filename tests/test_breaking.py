"""`python -m generator breaking --against REF`: description changes since a git ref, classified.

A throwaway git repository holds a copy of schemas/ committed as HEAD; each scenario mutates the
bundled descriptions in its working tree the way a maintainer would (every mutation keeps the
descriptions valid) and runs the command in-process (the unchanged ref side loads once).
Rules whose realistic mutation would need many coordinated edits (removing a Builder with its
slots and specs) are checked on the compared catalogs directly.
"""

import contextlib
import dataclasses
import io
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main
from generator.model import Description, Parameter
from generator.validate import Catalog
from generator.commands.breaking import _catalog  # pyright: ignore[reportPrivateUsage]
from generator.commands.breaking_compare import compare
from generator.commands.breaking_rules import RULES, Category
from generator.commands.breaking_types import Order, compare_types
from tests.generator_runs import ROOT

type Tree = dict[str, dict[str, Any]]  # description file name -> JSON
MLP = "schemas/megatron_core/mlp.json"
CROSS = "schemas/megatron_core/cross_attention.json"
GPT = "schemas/megatron_core/gpt_specs.json"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)


def _make_repo(target: Path) -> Path:
    shutil.copytree(ROOT / "schemas", target / "schemas")
    _git(target, "init", "-q", "-b", "main")
    _git(target, "add", "-A")
    _git(target, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "descriptions")
    return target


def _mutate(repo: Path, edit: Callable[[Tree], None]) -> None:
    folder = repo / "schemas" / "megatron_core"
    tree: Tree = {
        f"schemas/megatron_core/{p.name}": json.loads(p.read_text()) for p in folder.glob("*.json")
    }
    edit(tree)
    for name, data in tree.items():
        (repo / name).write_text(json.dumps(data, indent=2) + "\n")


def _run(
    repo: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any], str]:
    status = main(["breaking", "--root", str(repo), "--json", *args])
    captured = capsys.readouterr()
    return status, (json.loads(captured.out) if captured.out else {}), captured.err


def _builder(tree: Tree, file: str, name: str) -> dict[str, Any]:
    return next(b for b in tree[file]["builders"] if b["name"] == name)


def _interface(tree: Tree, file: str, name: str) -> dict[str, Any]:
    return next(i for i in tree[file]["interfaces"] if i["name"] == name)


def _implementations(tree: Tree, builder: str) -> Iterator[dict[str, Any]]:
    """Every implementation of `builder`, in its own file or contributed by another."""
    for data in tree.values():
        for item in data.get("builders", []):
            if item["name"] == builder:
                yield from item["implementations"]
        for item in data.get("implementations", []):
            if item["builder"] == builder:
                yield item


def _parameter(builder: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in builder["parameters"] if p["name"] == name)


def _drop_is_expert(tree: Tree) -> None:
    """is_expert dropped from LinearFc1Builder: every implementation is given it fixed instead
    (some require it)."""
    fc1 = _builder(tree, MLP, "LinearFc1Builder")
    fc1["parameters"].remove(_parameter(fc1, "is_expert"))
    fixed = {"name": "is_expert", "kind": "keyword", "type": "bool", "default": "False"}
    for implementation in _implementations(tree, "LinearFc1Builder"):
        del implementation["arguments"]["is_expert"]
        implementation.setdefault("fixed", []).append(fixed)


def _breaking_edits(tree: Tree) -> None:
    fc1 = _builder(tree, MLP, "LinearFc1Builder")
    _drop_is_expert(tree)
    _parameter(fc1, "tp_group")["type"] = "ProcessGroup"  # was ProcessGroup | None
    _parameter(fc1, "stride")["type"] = "float"  # was int: cannot be ordered
    fc2 = _builder(tree, MLP, "LinearFc2Builder")
    # tp_comm_buffer_name renamed in place (same position, same type)
    _parameter(fc2, "tp_comm_buffer_name")["name"] = "comm_buffer_name"
    for implementation in _implementations(tree, "LinearFc2Builder"):
        arguments = implementation["arguments"]
        arguments.pop("tp_comm_buffer_name")
        arguments["comm_buffer_name"] = {"rename": "tp_comm_buffer_name"}
    # a new argument the parent passes always: every implementation must accept it
    fc2["parameters"].append({"name": "layer_number", "kind": "keyword", "type": "int"})
    for implementation in _implementations(tree, "LinearFc2Builder"):
        implementation["arguments"]["layer_number"] = "drop"
    fc1_interface = _interface(tree, MLP, "LinearFc1Interface")
    fc1_interface["methods"] = [m for m in fc1_interface["methods"] if m["name"] != "backward_dw"]
    _interface(tree, MLP, "LinearFc2Interface")["methods"].append(
        {
            "name": "reset_parameters",
            "doc": "Re-initializes the weights.",
            "parameters": [],
            "returns": "None",
        }
    )
    activation = _interface(tree, MLP, "TEActivationFunctionInterface")
    activation["methods"][0]["returns"] = "tuple[Tensor, Tensor | None]"
    # the LinearLayerBuilder adapter of ColumnParallelLinear (no spec uses it) is dropped
    linear = _builder(tree, CROSS, "LinearLayerBuilder")
    linear["implementations"] = [
        i for i in linear["implementations"] if i["object"] != "ColumnParallelLinear"
    ]


@pytest.fixture(scope="module")
def breaking_changes(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[int, list[dict[str, Any]]]:
    repo = _make_repo(tmp_path_factory.mktemp("breaking"))
    _mutate(repo, _breaking_edits)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["breaking", "--root", str(repo), "--json", "--against", "HEAD"])
    return status, json.loads(out.getvalue())["changes"]


FC1 = f"{MLP}#/builders/0/parameters"
EXPECTED = [
    # rule, where (file#pointer prefix), located in the ref, category
    ("BUILDER_PARAMETER_REMOVED", f"{FC1}/7", True, Category.CALLERS),
    ("BUILDER_PARAMETER_TYPE_NARROWED", f"{FC1}/8", False, Category.CALLERS),
    ("BUILDER_PARAMETER_TYPE_CHANGED", f"{FC1}/9", False, Category.BOTH),
    ("BUILDER_PARAMETER_RENAMED", f"{MLP}#/builders/2/parameters", False, Category.BOTH),
    (
        "BUILDER_PARAMETER_ADDED_REQUIRED",
        f"{MLP}#/builders/2/parameters",
        False,
        Category.IMPLEMENTERS,
    ),
    ("INTERFACE_METHOD_REMOVED", f"{MLP}#/interfaces/0/methods/1", True, Category.CALLERS),
    ("INTERFACE_METHOD_ADDED", f"{MLP}#/interfaces/2/methods/2", False, Category.IMPLEMENTERS),
    ("INTERFACE_METHOD_SIGNATURE_CHANGED", f"{MLP}#/interfaces/1/methods/0", False, Category.BOTH),
    ("ADAPTER_REMOVED", f"{CROSS}#/builders/", True, Category.CALLERS),
]


@pytest.mark.parametrize(
    ("rule", "where", "in_ref", "category"), EXPECTED, ids=[e[0] for e in EXPECTED]
)
def test_a_realistic_mutation_is_reported_by_its_rule_where_it_happened(
    breaking_changes: tuple[int, list[dict[str, Any]]],
    rule: str,
    where: str,
    in_ref: bool,
    category: Category,
) -> None:
    _, changes = breaking_changes
    found = [c for c in changes if c["rule"] == rule]
    assert len(found) == 1, found
    change = found[0]
    assert f"{change['file']}#{change['pointer']}".startswith(where), change
    assert change["version"] == ("ref" if in_ref else "working tree")
    assert change["category"] == category.value and change["breaking"] and not change["ignored"]


def test_breaking_changes_exit_1_and_nothing_else_is_reported(
    breaking_changes: tuple[int, list[dict[str, Any]]],
) -> None:
    status, changes = breaking_changes
    assert status == 1
    assert sorted(c["rule"] for c in changes) == sorted(e[0] for e in EXPECTED)
    details = {c["rule"]: c["detail"] for c in changes}
    assert details["BUILDER_PARAMETER_RENAMED"] == (
        "LinearFc2Builder: tp_comm_buffer_name renamed to comm_buffer_name (position 8)"
    )
    assert "not orderable" in details["BUILDER_PARAMETER_TYPE_CHANGED"]
    assert details["ADAPTER_REMOVED"].startswith("LinearLayerFromColumnParallelLinear ")


def _compatible_edits(tree: Tree) -> None:
    fc1 = _builder(tree, MLP, "LinearFc1Builder")
    fc1["doc"] += " Now documented better."
    # a new argument the parent may omit, with the default implementations use
    fc1["parameters"].append(
        {
            "name": "disable_grad_reduce",
            "kind": "keyword",
            "type": "bool",
            "default": "False",
            "passed": "conditionally",
        }
    )
    for implementation in _implementations(tree, "LinearFc1Builder"):
        implementation["arguments"]["disable_grad_reduce"] = "drop"
    _parameter(fc1, "gather_output")["type"] = "bool | None"  # widened


def test_compatible_changes_exit_0_and_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _make_repo(tmp_path)
    _mutate(repo, _compatible_edits)
    status, report, _ = _run(repo, capsys, "--against", "HEAD")
    assert status == 0
    assert report["breaking"] == 0
    assert sorted(c["rule"] for c in report["changes"]) == [
        "BUILDER_PARAMETER_ADDED_OPTIONAL",
        "BUILDER_PARAMETER_TYPE_WIDENED",
        "DOC_CHANGED",
    ]
    assert all(c["category"] == "compatible" for c in report["changes"])


def test_a_rule_ignored_in_pyproject_does_not_fail_and_is_marked_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _make_repo(tmp_path)

    _mutate(repo, _drop_is_expert)
    (repo / "pyproject.toml").write_text(
        '[tool.generator.breaking]\nignore = ["BUILDER_PARAMETER_REMOVED"]\n'
    )
    status, report, _ = _run(repo, capsys, "--against", "HEAD")
    assert status == 0
    assert [(c["rule"], c["ignored"]) for c in report["changes"]] == [
        ("BUILDER_PARAMETER_REMOVED", True)
    ]
    # without the ignore list the same change fails
    (repo / "pyproject.toml").write_text("[tool.generator]\n")
    assert _run(repo, capsys, "--against", "HEAD")[0] == 1
    # and --ignore on the command line does the same as pyproject.toml
    assert _run(repo, capsys, "--against", "HEAD", "--ignore", "BUILDER_PARAMETER_REMOVED")[0] == 0


def test_an_unknown_rule_in_the_ignore_list_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _make_repo(tmp_path)
    status, _, err = _run(repo, capsys, "--against", "HEAD", "--ignore", "NO_SUCH_RULE")
    assert status == 2
    assert "unknown rule ID(s) to ignore: NO_SUCH_RULE" in err


def test_an_unknown_ref_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _make_repo(tmp_path)
    status, report, err = _run(repo, capsys, "--against", "no-such-branch")
    assert status == 2 and report == {}
    assert "unknown git ref 'no-such-branch'" in err and "Traceback" not in err


def test_the_unchanged_real_repository_reports_nothing_against_head(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "schemas"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if dirty:
        pytest.skip(f"schemas/ has uncommitted changes:\n{dirty}")
    assert main(["breaking", "--against", "HEAD"]) == 0
    assert "no changes to the descriptions since HEAD." in capsys.readouterr().out


def test_help_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["breaking", "--help"])
    text = capsys.readouterr().out
    assert all(rule in text for rule in RULES)


# -- rules checked on the compared catalogs (mutations a validator would refuse piecemeal) ----


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return _catalog(ROOT / "schemas", ROOT, "in the working tree")


def test_a_removed_builder_slot_and_factory_parameter_are_breaking(catalog: Catalog) -> None:
    builders = dict(catalog.builders)
    del builders["LinearLayerBuilder"]
    parents = dict(catalog.parents)
    path = next(p for p in parents if p.endswith(".MLP"))
    parent, description = parents[path]
    parents[path] = (dataclasses.replace(parent, slots=parent.slots[1:]), description)
    descriptions: list[Description] = []
    dropped: list[Parameter] = []
    for item in catalog.descriptions:
        # the first factory of each file that has parameters loses its first one
        index = next((i for i, spec in enumerate(item.specs) if spec.parameters), None)
        if index is not None:
            spec = item.specs[index]
            dropped.append(spec.parameters[0])
            spec = dataclasses.replace(spec, parameters=spec.parameters[1:])
            specs = (*item.specs[:index], spec, *item.specs[index + 1 :])
            item = dataclasses.replace(item, specs=specs)
        descriptions.append(item)
    changed = dataclasses.replace(
        catalog, builders=builders, parents=parents, descriptions=tuple(descriptions)
    )
    rules = {c.rule for c in compare(catalog, changed)}
    assert rules == {"BUILDER_REMOVED", "SLOT_REMOVED", "FACTORY_PARAMETER_REMOVED"}
    assert all(RULES[rule].category.breaking for rule in rules)
    added = {c.rule for c in compare(changed, catalog)}
    # added back: a parameter without default is breaking for a factory's callers
    readded = {
        "FACTORY_PARAMETER_ADDED_OPTIONAL" if p.default else "FACTORY_PARAMETER_ADDED_REQUIRED"
        for p in dropped
    }
    assert added == {"BUILDER_ADDED", "SLOT_ADDED_REQUIRED", *readded}


@pytest.mark.parametrize(
    ("old", "new", "order"),
    [
        ("ProcessGroup | None", "ProcessGroup", Order.NARROWED),
        ("int", "Optional[int]", Order.WIDENED),
        ("Union[int, str]", "str | int", Order.SAME),
        ("int", "str", Order.CHANGED),
        ("list[int | None]", "list[int]", Order.CHANGED),
        ("A | B", "A | C", Order.CHANGED),
    ],
)
def test_type_order_is_decided_from_union_members_only(old: str, new: str, order: Order) -> None:
    assert compare_types(old, new) is order
