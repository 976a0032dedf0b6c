"""The command line beyond `generate`: `dump` replays what the generator saw."""

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
    assert sorted(by_module) == [
        "attention",
        "bias_dropout_add",
        "cross_attention",
        "gpt_specs",
        "layer_norm",
        "mlp",
        "transformer_layer",
    ]
    slots = [slot["name"] for item in dumped if item["parent"] for slot in item["parent"]["slots"]]
    assert len(slots) == 21
    mlp = next(b for b in by_module["transformer_layer"]["builders"] if b["name"] == "MlpBuilder")
    mapping = {m["parameter"]: m for m in mlp["implementations"][0]["mappings"]}
    assert mapping["pg_collection"]["kind"] == "derive"
    assert mapping["pg_collection"]["targets"] == [["tp_group", "pg_collection.tp"]]
