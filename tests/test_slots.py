"""`python -m generator slots` and README.md's slots table: the full inventory of upstream slots."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from generator.load import load_descriptions
from generator.model import build_model
from generator.slots import (
    BEGIN_MARKER,
    END_MARKER,
    inventory,
    render_markdown,
    upstream_slots,
)
from generator.validate import validate
from generator.upstream import source as source_slots
from tests.generator_runs import ROOT, copy_project, run_generator

UPSTREAM_SLOT_COUNT = 75  # megatron-core 0.19.2; tests/test_descriptions_match_source.py agrees


def _described() -> list[tuple[str, str, str]]:
    """(Submodules dataclass, slot, Builder) of every slot the descriptions give a Builder."""
    found: list[tuple[str, str, str]] = []
    for path in sorted((ROOT / "schemas" / "megatron_core").glob("*.json")):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        parent = data.get("parent")
        if parent is not None:
            found += [(parent["submodules"], s["name"], s["builder"]) for s in parent["slots"]]
    return found


def _slots_command() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", "slots"], cwd=ROOT, capture_output=True, text=True
    )


def _rows(output: str) -> dict[tuple[str, str], list[str]]:
    """The printed table's cells by (parent, slot); columns are separated by 2+ spaces."""
    lines = output.splitlines()
    heading = re.split(r"\s{2,}", lines[0])
    assert heading[:4] == ["Parent (Submodules)", "Slot", "Construction", "Builder"]
    rows: dict[tuple[str, str], list[str]] = {}
    for line in lines[2:]:
        if not line:
            break
        cells = re.split(r"\s{2,}", line)
        rows[(cells[0], cells[1])] = cells
    return rows


def _readme_table(text: str) -> str:
    begin = text.index(BEGIN_MARKER) + len(BEGIN_MARKER) + 1
    return text[begin : text.index(END_MARKER)]


def test_upstream_inventory_has_75_slots_as_the_source_reader_in_tests_finds() -> None:
    ours = upstream_slots()
    reference = {slot.key: slot for slot in source_slots.upstream_slots()}
    assert len(ours) == len(reference) == UPSTREAM_SLOT_COUNT
    assert {f"{s.qualname}.{s.name}" for s in ours} == set(reference)
    for slot in ours:
        upstream = reference[f"{slot.qualname}.{slot.name}"]
        assert slot.is_list == upstream.is_list, slot
        assert slot.upstream_typed == bool(upstream.builder_protocols), slot


def test_slots_command_exits_0_and_ends_with_described_slots_over_75() -> None:
    result = _slots_command()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"slots typed: {len(_described())}/75"


def test_every_described_slot_is_listed_with_its_builder_and_construction() -> None:
    rows = _rows(_slots_command().stdout)
    for parent, slot, builder in _described():
        cells = rows[(parent, slot)]
        assert cells[3] == builder, cells
        assert cells[2] in {"call", "build_module"}, cells


def test_undescribed_upstream_slots_are_listed_as_untyped() -> None:
    rows = _rows(_slots_command().stdout)
    described = {(parent, slot) for parent, slot, _ in _described()}
    undescribed = [
        (s.dataclass.name, s.name)
        for s in source_slots.upstream_slots()
        if (s.dataclass.name, s.name) not in described
    ]
    assert len(rows) == UPSTREAM_SLOT_COUNT
    assert len(undescribed) == UPSTREAM_SLOT_COUNT - len(described)
    for key in undescribed:
        assert rows[key][2:4] == ["-", "(untyped)"], rows[key]
    # MambaLayerSubmodules.norm is annotated with upstream's LayerNormBuilder but undescribed.
    if ("MambaLayerSubmodules", "norm") in undescribed:
        assert rows[("MambaLayerSubmodules", "norm")][5] == "yes"


def test_implementations_are_the_builders_adapters_with_te_ones_marked() -> None:
    rows = _rows(_slots_command().stdout)
    layer_norm = rows[("TransformerLayerSubmodules", "input_layernorm")]
    implementations = layer_norm[-1].split(", ")
    assert "TENorm (TE)" in implementations
    assert "FusedLayerNorm" in implementations
    assert implementations == sorted(implementations)


def test_readme_table_is_what_the_generator_renders() -> None:
    loaded = load_descriptions(ROOT / "schemas", ROOT)
    catalog = validate([build_model(item) for item in loaded])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _readme_table(readme) == render_markdown(inventory(catalog, upstream_slots()))
    assert f"`slots typed: {len(_described())}/75`" in _readme_table(readme)
    # The README still opens with the two commands.
    assert readme.splitlines()[3:5] == [
        "make generate   # creates .venv (Python 3.12, pinned) if needed, then regenerates"
        " generated/ from schemas/",
        "make test       # creates .venv if needed, then runs every gate: pyright strict,"
        " upstream parity, model parity, bad input",
    ]


def test_check_names_readme_after_a_hand_edit_of_its_table(tmp_path: Path) -> None:
    project = copy_project(tmp_path, with_readme=True)
    readme = project / "README.md"
    original = readme.read_text(encoding="utf-8")
    edited = original.replace("| MLPSubmodules | linear_fc1 |", "| MLPSubmodules | linear_fc9 |")
    assert edited != original
    readme.write_text(edited, encoding="utf-8")

    result = run_generator(project, "--check")
    assert result.returncode == 1
    assert "stale: README.md: its generated part is out of date or was edited by hand" in (
        result.stderr
    )
    assert "--- a/README.md" in result.stdout
    assert "-| MLPSubmodules | linear_fc9 |" in result.stdout
    assert readme.read_text(encoding="utf-8") == edited  # --check writes nothing

    assert run_generator(project).returncode == 0
    assert readme.read_text(encoding="utf-8") == original
    assert run_generator(project, "--check").returncode == 0


def test_readme_without_markers_is_reported_and_left_unchanged(tmp_path: Path) -> None:
    project = copy_project(tmp_path, with_readme=True)
    readme = project / "README.md"
    text = readme.read_text(encoding="utf-8").replace(END_MARKER, "")
    readme.write_text(text, encoding="utf-8")

    result = run_generator(project)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: README.md: /: no slots table" in result.stderr
    assert readme.read_text(encoding="utf-8") == text
