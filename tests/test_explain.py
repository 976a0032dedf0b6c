"""`explain`: the module tree of a spec, with adapters and the origin of every argument."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from generator.cli import main

LOCAL = "generated.megatron_core.gpt_specs:get_gpt_layer_local_spec"
UPSTREAM_LOCAL = "megatron.core.models.gpt.gpt_layer_specs:get_gpt_layer_local_spec"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["explain", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def find(node: dict[str, object], slot: str) -> dict[str, object]:
    if node["slot"] == slot:
        return node
    for child in node["children"]:  # type: ignore[union-attr]
        try:
            return find(child, slot)  # type: ignore[arg-type]
        except KeyError:
            pass
    raise KeyError(slot)


def origins(node: dict[str, object]) -> dict[str, tuple[str, str]]:
    return {a["name"]: (a["origin"], a["detail"]) for a in node["arguments"]}  # type: ignore[index,union-attr]


def test_plain_output_names_slots_implementations_adapters_and_argument_origins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", LOCAL, "--opt", "qk_layernorm=True"]) == 0
    out = capsys.readouterr().out
    assert (
        "self_attention: transformer.attention.SelfAttention  [AttentionFromSelfAttention]" in out
    )
    assert "attn_mask_type = fixed: AttnMaskType.causal by the spec" in out
    assert "mlp: transformer.mlp.MLP  [MlpFromMLP]  (MlpBuilder)" in out
    assert "tp_group <- derived: pg_collection.tp from TransformerLayer" in out
    assert "is_mtp_layer x dropped: passed by TransformerLayer" in out
    assert "input_size <- renamed: query_projection_size from SelfAttention" in out
    assert (
        "q_layernorm: transformer.torch_norm.WrappedTorchNorm  [LayerNormFromWrappedTorchNorm]"
        in out
    )
    assert "\x1b[" not in out  # plain when piped


def test_json_tree_has_slots_adapters_and_origins_for_our_spec_and_upstreams(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ours = run_json(capsys, LOCAL)
    assert ours["adapter"] == "TransformerBlockLayerFromTransformerLayer"
    assert ours["adapter_kind"] == "generated"
    mlp = find(ours, "mlp")
    assert (mlp["implementation"], mlp["adapter"], mlp["builder"]) == (
        "transformer.mlp.MLP",
        "MlpFromMLP",
        "MlpBuilder",
    )
    assert origins(mlp)["tp_group"] == ("derived", "pg_collection.tp from TransformerLayer")
    assert origins(mlp)["is_mtp_layer"][0] == "dropped"
    assert origins(find(ours, "self_attention"))["attn_mask_type"] == (
        "fixed",
        "AttnMaskType.causal by the spec",
    )
    assert [c["slot"] for c in find(ours, "self_attention")["children"]] == [  # type: ignore[union-attr]
        "linear_qkv",
        "core_attention",
        "linear_proj",
        "q_layernorm",
        "k_layernorm",
    ]
    # Upstream's own factory: the same tree, each value named by the adapter that describes it.
    upstream = run_json(capsys, UPSTREAM_LOCAL)
    up_mlp = find(upstream, "mlp")
    assert (up_mlp["adapter"], up_mlp["adapter_kind"]) == ("MlpFromMLP", "described")
    assert origins(up_mlp) == origins(mlp)


def test_dot_output_is_valid_graphviz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dot_file = tmp_path / "tree.dot"
    assert main(["explain", LOCAL, "--out", str(dot_file)]) == 0
    capsys.readouterr()
    text = dot_file.read_text()
    assert text.startswith("digraph explain {") and "MlpFromMLP" in text
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed (.ci/run installs it)")
    result = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "<svg" in result.stdout
    svg = tmp_path / "tree.svg"
    assert main(["explain", LOCAL, "--out", str(svg)]) == 0
    assert "<svg" in svg.read_text()


def test_svg_without_dot_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        shutil, "which", lambda _name: None
    )  # pyright: ignore[reportUnknownLambdaType]
    assert main(["explain", LOCAL, "--out", str(tmp_path / "x.svg")]) == 2
    assert "dot" in capsys.readouterr().err


def test_bad_factory_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "generated.megatron_core.gpt_specs:no_such_factory"]) == 2
    assert "no callable" in capsys.readouterr().err
