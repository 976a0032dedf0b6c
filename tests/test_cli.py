"""The command line: every command answers --help; `dump` replays what the generator saw."""

import json
import subprocess
import sys

from tests.generator_runs import ROOT


def test_dump_prints_the_validated_descriptions_as_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "generator", "dump"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    dumped = json.loads(result.stdout)
    by_module = {item["module"]: item for item in dumped}
    # Every description is dumped, with every slot of its parent (17 in the dense GPT layer).
    files = [
        json.loads(path.read_text()) for path in (ROOT / "schemas" / "megatron_core").glob("*.json")
    ]
    assert sorted(by_module) == sorted(data["module"] for data in files)
    assert {"attention", "bias_dropout_add", "gpt_specs", "layer_norm", "mlp"} < set(by_module)
    slots = [slot["name"] for item in dumped if item["parent"] for slot in item["parent"]["slots"]]
    assert len(slots) == sum(len(data["parent"]["slots"]) for data in files if "parent" in data)
    assert len(slots) >= 17
    mlp = next(b for b in by_module["transformer_layer"]["builders"] if b["name"] == "MlpBuilder")
    mapping = {m["parameter"]: m for m in mlp["implementations"][0]["mappings"]}
    assert mapping["pg_collection"]["kind"] == "derive"
    assert mapping["pg_collection"]["targets"] == [["tp_group", "pg_collection.tp"]]


def test_every_command_answers_help() -> None:
    from generator.cli import COMMANDS

    for name in COMMANDS:
        result = subprocess.run(
            [sys.executable, "-m", "generator", name, "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, (name, result.stderr)
        assert f"usage: python -m generator {name}" in result.stdout
