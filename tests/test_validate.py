"""Semantic validation: rules JSON Schema cannot express, and the format's room for the roadmap."""

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.errors import DescriptionErrors
from generator.load import load_descriptions
from generator.model import build_model
from generator.pipeline import generate_files

ROOT = Path(__file__).resolve().parent.parent

Description = dict[str, Any]


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    return tmp_path / "schemas"


def _edit(schemas: Path, name: str, change: Callable[[Description], None]) -> None:
    path = schemas / "megatron_core" / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _errors(schemas: Path) -> list[str]:
    with pytest.raises(DescriptionErrors) as raised:
        generate_files(schemas, schemas.parent)
    return [f"{e.pointer}: {e.message}" for e in raised.value.errors]


def _builder(data: Description, name: str) -> Description:
    return next(b for b in data["builders"] if b["name"] == name)


def test_dropping_a_positional_parameter_before_a_passed_one_is_refused(schemas: Path) -> None:
    def drop_input_size(data: Description) -> None:
        _builder(data, "LinearFc1Builder")["implementations"][0]["arguments"]["input_size"] = "drop"

    _edit(schemas, "mlp.json", drop_input_size)
    [error] = _errors(schemas)
    assert "/builders/0/implementations/0/arguments/output_size" in error
    assert "would shift into an earlier position" in error


def test_an_unbuilt_function_in_a_directly_called_slot_is_refused(schemas: Path) -> None:
    def make_call(data: Description) -> None:
        _builder(data, "BiasDropoutAddBuilder")["construction"] = "call"

    _edit(schemas, "bias_dropout_add.json", make_call)
    assert any(
        "only build_module returns functions unbuilt" not in e
        and "is 'unbuilt' but BiasDropoutAddBuilder is called directly" in e
        for e in _errors(schemas)
    )


def test_a_conditionally_passed_parameter_needs_a_default(schemas: Path) -> None:
    def remove_default(data: Description) -> None:
        parameter = _builder(data, "AttentionBuilder")["parameters"][3]
        assert parameter["name"] == "cp_comm_type"
        del parameter["default"]

    _edit(schemas, "transformer_layer.json", remove_default)
    assert any("passed conditionally but has no default" in e for e in _errors(schemas))


def test_a_derivation_must_start_from_its_own_parameter(schemas: Path) -> None:
    def derive_from_config(data: Description) -> None:
        arguments = _builder(data, "MlpBuilder")["implementations"][0]["arguments"]
        arguments["pg_collection"] = {"derive": {"tp_group": "config.tp"}}

    _edit(schemas, "transformer_layer.json", derive_from_config)
    assert any("does not start from 'pg_collection'" in e for e in _errors(schemas))


def test_null_is_refused_in_a_slot_that_is_not_optional(schemas: Path) -> None:
    def null_norm(data: Description) -> None:
        [local] = [s for s in data["specs"] if s["name"] == "get_gpt_layer_local_submodules"]
        local["body"]["slots"]["input_layernorm"] = None

    _edit(schemas, "gpt_specs.json", null_norm)
    assert any("slot 'input_layernorm' is not optional" in e for e in _errors(schemas))


def _lifted_slot(data: Description) -> Description:
    return data["parent"]["lifted"]["slots"][0]


def test_format_describes_list_optional_lifted_and_te_only_slots(schemas: Path) -> None:
    # List, optional, TE-only and lifted slots are all described for real
    # (TransformerBlockSubmodules, MultiTokenPredictionBlockSubmodules, TENorm, HybridStack).
    descriptions = {
        d.module: d
        for d in (build_model(loaded) for loaded in load_descriptions(schemas, schemas.parent))
    }
    block = descriptions["transformer_block"].parent
    assert block is not None
    slots = {slot.name: slot for slot in block.slots}
    assert slots["layer_specs"].is_list and not slots["layer_specs"].optional
    assert slots["layer_norm"].optional and not slots["layer_norm"].is_list
    mtp_block = descriptions["multi_token_prediction_block"].parent
    assert mtp_block is not None and [s.is_list for s in mtp_block.slots] == [True]
    [te_norm] = [
        i
        for b in descriptions["layer_norm"].builders
        if b.name == "LayerNormBuilder"
        for i in b.implementations
        if i.object == "TENorm"
    ]
    assert te_norm.requires == "transformer_engine"
    hybrid = descriptions["hybrid_stack"].parent
    assert hybrid is not None and hybrid.lifted is not None
    [final_norm] = hybrid.lifted.slots
    assert (final_norm.name, final_norm.default) == ("final_norm", "LayerNormFromTENorm")

    files = generate_files(schemas, schemas.parent)
    generated = {path.name: text for path, text in files.items()}
    assert "class TransformerBlockLayerBuilder(Protocol):" in generated["transformer_block.py"]
    assert "class LayerNormFromTENorm:" in generated["layer_norm.py"]
    hybrid_py = generated["hybrid_stack.py"]
    assert "class HybridStackWithLiftedSlots(HybridStack):" in hybrid_py
    assert "class HybridStackWithLiftedSlotsSubmodules(HybridStackSubmodules):" in hybrid_py
    assert "def hybrid_stack_with_lifted_slots_submodules(" in hybrid_py


def test_a_lifted_slot_must_say_how_the_parent_is_stopped_building_it(schemas: Path) -> None:
    _edit(schemas, "hybrid_stack.json", lambda data: _lifted_slot(data).pop("disabled_by"))
    [error] = _errors(schemas)
    assert error.startswith("/parent/lifted/slots/0: schema violation")
    assert "disabled_by" in error


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"default": "LinearProjFromRowParallelLinear"}, "is not an adapter of LayerNormBuilder"),
        ({"when": "self.post_process and post_norm"}, "when: unknown name 'post_norm'"),
        ({"when": "self.post_process + 1"}, "when: BinOp is not allowed"),
        ({"arguments": {"config": "self.config", "eps": "1e-5"}}, "'hidden_size' has no value"),
        (
            {"arguments": {"config": "config", "hidden_size": "h", "eps": "1e-5"}},
            "arguments/hidden_size: unknown name 'h'",
        ),
        ({"arguments": {"config": "self.config()"}}, "Call is not allowed"),
        (
            {"disabled_by": {"argument": "norm", "value": "False", "attribute": "norm"}},
            "disabled_by: 'norm' is not a parameter",
        ),
        ({"name": "mlp_layer"}, "lifted slot 'mlp_layer' is already a field"),
        ({"builder": "NormBuilder"}, "unknown builder 'NormBuilder'"),
    ],
)
def test_a_wrong_lifted_slot_is_refused_with_its_location(
    schemas: Path, change: Description, message: str
) -> None:
    _edit(schemas, "hybrid_stack.json", lambda data: _lifted_slot(data).update(change))
    errors = _errors(schemas)
    assert any(e.startswith("/parent/lifted/slots/0: ") and message in e for e in errors), errors


def test_a_python_keyword_as_a_slot_name_is_refused_by_the_schema(schemas: Path) -> None:
    def keyword_slot(data: Description) -> None:
        data["parent"]["slots"][0]["name"] = "class"

    _edit(schemas, "mlp.json", keyword_slot)
    [error] = _errors(schemas)
    assert error.startswith("/parent/slots/0/name: schema violation")


def test_positional_arguments_follow_the_builder_order_not_the_description_order(
    schemas: Path,
) -> None:
    def reverse_arguments(data: Description) -> None:
        implementation = _builder(data, "LinearFc1Builder")["implementations"][0]
        implementation["arguments"] = dict(reversed(implementation["arguments"].items()))

    _edit(schemas, "mlp.json", reverse_arguments)
    files = generate_files(schemas, schemas.parent)
    mlp = next(text for path, text in files.items() if path.name == "mlp.py")
    assert "ColumnParallelLinear(\n            input_size,\n            output_size," in mlp


def test_an_implementation_added_from_another_file_is_generated_with_that_file(
    schemas: Path,
) -> None:
    moved: list[Description] = []

    def take_l2_norm(data: Description) -> None:
        implementations = _builder(data, "LayerNormBuilder")["implementations"]
        moved.extend(i for i in implementations if i["object"] == "L2Norm")
        implementations[:] = [i for i in implementations if i["object"] != "L2Norm"]
        del data["imports"]["L2Norm"]

    def add_l2_norm(data: Description) -> None:
        data["imports"]["L2Norm"] = "megatron.core.transformer.torch_norm.L2Norm"
        data["implementations"] = [{"builder": "LayerNormBuilder", **moved[0]}]

    _edit(schemas, "layer_norm.json", take_l2_norm)
    _edit(schemas, "attention.json", add_l2_norm)
    files = {path.name: text for path, text in generate_files(schemas, schemas.parent).items()}
    assert "class LayerNormFromL2Norm:" in files["attention.py"]
    assert "L2Norm" not in files["layer_norm.py"]
    # The builder's parameter types come from the builder's description, imported as needed.
    assert re.search(r"from \.layer_norm import .*\bLayerNormInterface\b", files["attention.py"])


def test_an_implementation_added_to_an_unknown_builder_is_refused(schemas: Path) -> None:
    def add_to_unknown(data: Description) -> None:
        data["implementations"] = [
            {
                "builder": "NoSuchBuilder",
                "object": "ColumnParallelLinear",
                "construction": "class",
                "doc": "x",
                "arguments": {},
            }
        ]

    _edit(schemas, "mlp.json", add_to_unknown)
    [error] = _errors(schemas)
    assert error.startswith(
        "/implementations/0/builder: implementation 'ColumnParallelLinear' is added to unknown "
        "builder 'NoSuchBuilder'"
    )


def test_a_factory_call_must_name_a_factory_or_helper_and_its_parameters(schemas: Path) -> None:
    def bad_calls(data: Description) -> None:
        [local] = [s for s in data["specs"] if s["name"] == "get_gpt_layer_local_submodules"]
        local["let"]["mlp"] = {"call": "get_mlp_module_spec", "arguments": {"use_tee": "False"}}
        local["let"]["layer_norm"] = {"call": "no_such_factory"}

    _edit(schemas, "gpt_specs.json", bad_calls)
    errors = _errors(schemas)
    assert any("get_mlp_module_spec has no parameter 'use_tee'" in e for e in errors), errors
    assert any(
        "'no_such_factory' is neither a spec factory nor a run-time helper" in e for e in errors
    )


def test_a_condition_may_only_use_parameters_imports_and_run_time_predicates(
    schemas: Path,
) -> None:
    def bad_condition(data: Description) -> None:
        [mlp] = [s for s in data["specs"] if s["name"] == "get_mlp_module_spec"]
        mlp["body"]["if"] = "num_experts is not None and __import__('os')"

    _edit(schemas, "gpt_specs.json", bad_condition)
    [error] = _errors(schemas)
    assert error.startswith("/specs/0/body: Call is not allowed"), error


def test_an_adapter_where_a_list_slot_needs_a_list_is_refused(schemas: Path) -> None:
    def single_layer(data: Description) -> None:
        [block] = [s for s in data["specs"] if s["name"] == "get_gpt_decoder_block_spec"]
        block["body"]["slots"]["layer_specs"] = {
            "adapter": "TransformerBlockLayerFromTransformerLayer",
            "submodules": {"parent": "TransformerLayer", "slots": {}},
        }

    _edit(schemas, "gpt_specs.json", single_layer)
    assert any("slot 'layer_specs' holds a list" in e for e in _errors(schemas))


def test_a_module_value_is_a_bare_call_of_a_factory_typed_by_its_return(schemas: Path) -> None:
    def add_value(data: Description) -> None:
        data["values"] = [
            {
                "name": "local_layer_spec",
                "doc": "The local layer.",
                "factory": "get_gpt_layer_local_spec",
            }
        ]

    _edit(schemas, "gpt_specs.json", add_value)
    files = {path.name: text for path, text in generate_files(schemas, schemas.parent).items()}
    assert (
        "#: The local layer.\nlocal_layer_spec: TransformerBlockLayerFromTransformerLayer = get_gpt_layer_local_spec()\n"
        in (files["gpt_specs.py"])
    )
    assert '"local_layer_spec",' in files["gpt_specs.py"]  # exported


def test_a_module_value_needs_a_factory_of_its_file_without_required_parameters(
    schemas: Path,
) -> None:
    def add_values(data: Description) -> None:
        data["values"] = [
            {"name": "needs_arguments", "doc": "x", "factory": "get_gpt_decoder_block_spec"},
            {"name": "elsewhere", "doc": "x", "factory": "get_moe_module_spec"},
            {"name": "ModuleSpec", "doc": "x", "factory": "get_gpt_layer_local_spec"},
        ]

    _edit(schemas, "gpt_specs.json", add_values)
    errors = _errors(schemas)
    assert any(
        "/values/0: value 'needs_arguments': factory 'get_gpt_decoder_block_spec' needs arguments"
        in e
        for e in errors
    ), errors
    assert any(
        "/values/1: value 'elsewhere' names 'get_moe_module_spec', which is not a factory of this"
        in e
        for e in errors
    ), errors
    assert any("/values/2: value 'ModuleSpec' shadows an import" in e for e in errors), errors
