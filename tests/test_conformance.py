"""`conformance`: binding each parent's arguments against each implementation, and config fields
a spec silently ignores (upstream issue #6059), without building a model."""

import json
from typing import Any

import pytest

from generator.cli import main

OURS = "generated.megatron_core.gpt_specs"
UPSTREAM = "megatron.core.models.gpt.gpt_layer_specs"


class AttentionWithoutSoftmaxScale:
    """A core attention whose constructor lacks `softmax_scale`, which SelfAttention passes."""

    def __init__(
        self,
        config: object,
        layer_number: int,
        attn_mask_type: object,
        attention_type: str,
        cp_comm_type: str | None = None,
        pg_collection: object = None,
    ) -> None:
        del config, layer_number, attn_mask_type, attention_type, cp_comm_type, pg_collection


def wrong_core_attention_spec() -> Any:
    """Upstream's local layer spec with the wrong core attention (a factory for the command)."""
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec

    spec = get_gpt_layer_local_spec()
    spec.submodules.self_attention.submodules.core_attention = AttentionWithoutSoftmaxScale
    return spec


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = main(["conformance", *argv, "--json"])
    return status, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("module", [OURS, UPSTREAM])
def test_single_moe_layer_spec_ignores_moe_layer_freq_issue_6059(
    module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, data = report(
        capsys,
        f"{module}:get_gpt_layer_local_spec",
        "--opt",
        "num_experts=16",
        "--preset",
        "gpt-moe-freq",
    )
    assert status == 1
    assert data["binding_failures"] == []
    [finding] = data["ignored_config_fields"]
    assert finding["field"] == "moe_layer_freq"
    assert "asks for 7 dense layer(s) of 8" in finding["message"]
    assert "all 8 layers are built as MoE" in finding["message"]
    assert "69.2M built instead of 14.2M (4.9x)" in finding["message"]


@pytest.mark.parametrize("module", [OURS, UPSTREAM])
def test_decoder_block_spec_conforms(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, data = report(
        capsys,
        f"{module}:get_gpt_decoder_block_spec",
        "--opt",
        "use_transformer_engine=False",
        "--preset",
        "gpt-moe-freq",
    )
    assert (status, data["binding_failures"], data["ignored_config_fields"]) == (0, [], [])
    assert data["slots_checked"] > 100


def test_dense_spec_ignores_num_moe_experts(capsys: pytest.CaptureFixture[str]) -> None:
    status, data = report(capsys, f"{UPSTREAM}:get_gpt_layer_local_spec", "--preset", "gpt-moe")
    assert status == 1
    assert [f["field"] for f in data["ignored_config_fields"]] == ["num_moe_experts"]


def test_qk_norm_in_spec_without_qk_layernorm_in_config(capsys: pytest.CaptureFixture[str]) -> None:
    status, data = report(
        capsys,
        f"{OURS}:get_gpt_layer_local_spec",
        "--opt",
        "qk_layernorm=True",
        "--preset",
        "gpt-dense",
    )
    assert status == 1
    [finding] = data["ignored_config_fields"]
    assert finding["field"] == "qk_layernorm" and "ValueError" in finding["message"]


def test_binding_failure_is_reported_for_an_implementation_lacking_a_parameter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, data = report(
        capsys, "tests.test_conformance:wrong_core_attention_spec", "--preset", "gpt-dense"
    )
    assert status == 1
    [failure] = data["binding_failures"]
    assert failure["slot"] == "core_attention"
    assert failure["implementation"].endswith("AttentionWithoutSoftmaxScale")
    assert "softmax_scale" in failure["error"]


def test_table_output_and_missing_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "conformance",
                f"{UPSTREAM}:get_gpt_layer_local_spec",
                "--opt",
                "num_experts=16",
                "--preset",
                "gpt-moe-freq",
            ]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "Config fields the spec ignores" in out and "moe_layer_freq" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["conformance", f"{UPSTREAM}:get_gpt_layer_local_spec"])
    assert exit_info.value.code == 2
