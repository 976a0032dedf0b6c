"""`python -m generator check`: drift between the descriptions and megatron-core's source.

Against the installed megatron-core 0.19.2 there is none. Against the 0.18.2 and 0.17.1 wheels
(downloaded once with pip into .cache/wheels/, git-ignored, so later runs work offline; unpacked
into a temporary folder and read with --megatron-root) the command reports exactly the
differences listed below, each checked by reading both releases' source.
"""

import importlib.metadata
import json
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from generator.cli import main
from generator.commands.check import find_drift, load_catalog, print_report
from generator.commands.drift import Drift
from generator.upstream import source as src

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".cache" / "wheels"
SCHEMAS = ROOT / "schemas"

# --- 0.18.2: every difference, with where the source says so ---------------------------------
# (kind, slot, a key part of the detail); file:line citations are 0.18.2's unless noted.
EXPECTED_0_18: list[tuple[str, str, str]] = [
    # absorbed_mla.py:62-72: the fields are linear_q_proj .. linear_kv_down_proj, linear_k_up_proj,
    # linear_v_up_proj (0.19.2 merges the k/v up-projections into linear_kv_up_proj)
    ("slot-added", "AbsorbedMLASelfAttentionSubmodules.linear_k_up_proj", "linear_k_up_proj"),
    ("slot-added", "AbsorbedMLASelfAttentionSubmodules.linear_v_up_proj", "linear_v_up_proj"),
    ("slot-removed", "AbsorbedMLASelfAttentionSubmodules.linear_kv_up_proj", "linear_kv_up_proj"),
    # ssm/gated_delta_net.py:60 defines GatedDeltaNetSubmodules and GatedDeltaNet in one module;
    # 0.19.2 splits it into the package ssm/gated_delta_net/ (common.py, gdn.py)
    ("submodules-added", "GatedDeltaNetSubmodules", "megatron.core.ssm.gated_delta_net."),
    ("submodules-removed", "GatedDeltaNetSubmodules", "a class of that name is at"),
    ("parent-missing", "GatedDeltaNetSubmodules", "gated_delta_net.gdn.GatedDeltaNet"),
    (
        "implementation-missing",
        "TransformerLayerSubmodules.self_attention",
        "megatron.core.ssm.gated_delta_net.gdn.GatedDeltaNet",
    ),
    # models/hybrid/hybrid_block.py:37 HybridStackSubmodules has no mla_layer field (0.19.2 adds it)
    ("slot-removed", "HybridStackSubmodules.mla_layer", "no field 'mla_layer'"),
    # ssm/mamba_layer.py:98 `submodules.norm(self.config, self.config.hidden_size)`: positional,
    # no eps; 0.19.2 passes config=, hidden_size=, eps= by keyword
    ("positional", "MambaLayerSubmodules.norm", "the parent passes 2 positional arguments"),
    ("no-longer-passed", "MambaLayerSubmodules.norm", "parameter config"),
    ("no-longer-passed", "MambaLayerSubmodules.norm", "parameter eps"),
    ("no-longer-passed", "MambaLayerSubmodules.norm", "parameter hidden_size"),
    # models/gpt/moe_module_specs.py has no _build_shared_experts (only get_moe_module_spec*,
    # get_inference_optimized_moe_spec); transformer/moe/shared_experts.py has SharedExpertMLP
    # but no FusedSharedExpertMLP
    ("implementation-missing", "MoESubmodules.shared_experts", "moe_module_specs._build_shared"),
    ("implementation-missing", "MoESubmodules.shared_experts", "FusedSharedExpertMLP"),
]

# --- 0.17.1: the full set as (kind, slot), then details checked per kind ----------------------
# Per kind (0.17.1 source, megatron/core/...):
# - name=: 0.17.1's parents never pass `name` (0.18 added it everywhere): e.g. transformer/mlp.py
#   linear_fc1 call has no name=, tensor_parallel/layers.py:780 ColumnParallelLinear.__init__ has no
#   name parameter -> no-longer-passed (36) and implementation-signature (78, one per slot the
#   implementation fills): "does not accept name".
# - transformer/attention.py:118-195 Protocols are LinearQkv/LinearQkvBuilder, LinearLayer/
#   LinearLayerBuilder, CoreAttention/CoreAttentionBuilder: no LinearQkvInterface, LinearInterface,
#   CoreAttentionInterface, LinearProjBuilder/LinearProjInterface; transformer_layer.py has no
#   MlpBuilder/MlpInterface -> protocol-removed (14: 7 objects, per slot); the linear_proj and mlp
#   fields are annotated Union[ModuleSpec, type] and built with build_module (attention.py:349,
#   transformer_layer.py:395) -> annotation (4), construction (4).
# - transformer_layer.py:395 `build_module(submodules.mlp, config=..., **additional_mlp_kwargs)`
#   passes tp_group= and passes pg_collection/is_mtp_layer only for some MLP types -> now-passed,
#   conditional (2).
# - multi_token_prediction.py:741 MultiTokenPredictionLayer takes mamba_submodules (not
#   hybrid_submodules); the block passes mamba_submodules= -> now-passed, no-longer-passed,
#   implementation-signature.
# - transformer_layer.py:323-325 passes pp_layer_offset= to self_attention when it is not None;
#   multi_latent_attention.py:384 MLASelfAttention.__init__ (so FusedMLASelfAttention, and
#   absorbed_mla's AbsorbedMLASelfAttention) takes no pp_layer_offset -> implementation-signature.
# - ssm/mamba_block.py:36 MambaStackSubmodules instead of models/hybrid/hybrid_block.py's
#   HybridStack(Submodules) -> submodules-added/-removed, parent-missing; GatedDeltaNet as in 0.18.
# - extensions/transformer_engine.py:2146 has TEFusedMLP, no TEFusedMLPWithGroupedLinear;
#   _build_shared_experts, FusedSharedExpertMLP missing as in 0.18 -> implementation-missing (4).
# - ssm/mamba_layer.py:91 norm built positionally as in 0.18; absorbed_mla k/v up-projections as
#   in 0.18.
EXPECTED_0_17_COUNTS = {
    "implementation-signature": 78,
    "no-longer-passed": 36,
    "protocol-removed": 14,
    "annotation": 4,
    "construction": 4,
    "implementation-missing": 4,
    "conditional": 2,
    "now-passed": 2,
    "parent-missing": 2,
    "slot-added": 2,
    "submodules-added": 2,
    "submodules-removed": 2,
    "positional": 1,
    "slot-removed": 1,
}
EXPECTED_0_17: list[tuple[str, str]] = [
    ("annotation", "CrossAttentionSubmodules.linear_proj"),
    ("annotation", "MLASelfAttentionSubmodules.linear_proj"),
    ("annotation", "SelfAttentionSubmodules.linear_proj"),
    ("annotation", "TransformerLayerSubmodules.mlp"),
    ("conditional", "TransformerLayerSubmodules.mlp"),
    ("conditional", "TransformerLayerSubmodules.mlp"),
    ("construction", "CrossAttentionSubmodules.linear_proj"),
    ("construction", "MLASelfAttentionSubmodules.linear_proj"),
    ("construction", "SelfAttentionSubmodules.linear_proj"),
    ("construction", "TransformerLayerSubmodules.mlp"),
    ("implementation-missing", "MoESubmodules.shared_experts"),
    ("implementation-missing", "MoESubmodules.shared_experts"),
    ("implementation-missing", "TransformerLayerSubmodules.mlp"),
    ("implementation-missing", "TransformerLayerSubmodules.self_attention"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "AbsorbedMLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "CrossAttentionSubmodules.linear_kv"),
    ("implementation-signature", "CrossAttentionSubmodules.linear_kv"),
    ("implementation-signature", "CrossAttentionSubmodules.linear_proj"),
    ("implementation-signature", "CrossAttentionSubmodules.linear_proj"),
    ("implementation-signature", "CrossAttentionSubmodules.linear_proj"),
    ("implementation-signature", "CrossAttentionSubmodules.linear_q"),
    ("implementation-signature", "CrossAttentionSubmodules.linear_q"),
    ("implementation-signature", "GroupedMLPSubmodules.linear_fc1"),
    ("implementation-signature", "GroupedMLPSubmodules.linear_fc2"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_kv_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_kv_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_kv_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_kv_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_kv_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "MLASelfAttentionSubmodules.linear_q_up_proj"),
    ("implementation-signature", "MLPSubmodules.linear_fc1"),
    ("implementation-signature", "MLPSubmodules.linear_fc1"),
    ("implementation-signature", "MLPSubmodules.linear_fc1"),
    ("implementation-signature", "MLPSubmodules.linear_fc1"),
    ("implementation-signature", "MLPSubmodules.linear_fc1"),
    ("implementation-signature", "MLPSubmodules.linear_fc2"),
    ("implementation-signature", "MLPSubmodules.linear_fc2"),
    ("implementation-signature", "MLPSubmodules.linear_fc2"),
    ("implementation-signature", "MambaLayerSubmodules.mixer"),
    ("implementation-signature", "MambaMixerSubmodules.in_proj"),
    ("implementation-signature", "MambaMixerSubmodules.in_proj"),
    ("implementation-signature", "MambaMixerSubmodules.in_proj"),
    ("implementation-signature", "MambaMixerSubmodules.out_proj"),
    ("implementation-signature", "MambaMixerSubmodules.out_proj"),
    ("implementation-signature", "MambaMixerSubmodules.out_proj"),
    ("implementation-signature", "MoESubmodules.experts"),
    ("implementation-signature", "MoESubmodules.experts"),
    ("implementation-signature", "MoESubmodules.experts"),
    ("implementation-signature", "MoESubmodules.shared_experts"),
    ("implementation-signature", "MultiTokenPredictionBlockSubmodules.layer_specs"),
    ("implementation-signature", "MultiTokenPredictionLayerSubmodules.eh_proj"),
    ("implementation-signature", "MultiTokenPredictionLayerSubmodules.eh_proj"),
    ("implementation-signature", "MultiTokenPredictionLayerSubmodules.eh_proj"),
    ("implementation-signature", "MultiTokenPredictionLayerSubmodules.mtp_model_layer"),
    ("implementation-signature", "SelfAttentionSubmodules.linear_proj"),
    ("implementation-signature", "SelfAttentionSubmodules.linear_proj"),
    ("implementation-signature", "SelfAttentionSubmodules.linear_proj"),
    ("implementation-signature", "SelfAttentionSubmodules.linear_qkv"),
    ("implementation-signature", "SelfAttentionSubmodules.linear_qkv"),
    ("implementation-signature", "SelfAttentionSubmodules.linear_qkv"),
    ("implementation-signature", "SelfAttentionSubmodules.linear_qkv"),
    ("implementation-signature", "SelfAttentionSubmodules.linear_qkv"),
    ("implementation-signature", "TransformerLayerSubmodules.cross_attention"),
    ("implementation-signature", "TransformerLayerSubmodules.mlp"),
    ("implementation-signature", "TransformerLayerSubmodules.mlp"),
    ("implementation-signature", "TransformerLayerSubmodules.self_attention"),
    ("implementation-signature", "TransformerLayerSubmodules.self_attention"),
    ("implementation-signature", "TransformerLayerSubmodules.self_attention"),
    ("implementation-signature", "TransformerLayerSubmodules.self_attention"),
    ("no-longer-passed", "AbsorbedMLASelfAttentionSubmodules.linear_kv_down_proj"),
    ("no-longer-passed", "AbsorbedMLASelfAttentionSubmodules.linear_proj"),
    ("no-longer-passed", "AbsorbedMLASelfAttentionSubmodules.linear_q_down_proj"),
    ("no-longer-passed", "AbsorbedMLASelfAttentionSubmodules.linear_q_proj"),
    ("no-longer-passed", "AbsorbedMLASelfAttentionSubmodules.linear_q_up_proj"),
    ("no-longer-passed", "CrossAttentionSubmodules.linear_kv"),
    ("no-longer-passed", "CrossAttentionSubmodules.linear_proj"),
    ("no-longer-passed", "CrossAttentionSubmodules.linear_q"),
    ("no-longer-passed", "GroupedMLPSubmodules.linear_fc1"),
    ("no-longer-passed", "GroupedMLPSubmodules.linear_fc2"),
    ("no-longer-passed", "MLASelfAttentionSubmodules.linear_kv_down_proj"),
    ("no-longer-passed", "MLASelfAttentionSubmodules.linear_kv_up_proj"),
    ("no-longer-passed", "MLASelfAttentionSubmodules.linear_proj"),
    ("no-longer-passed", "MLASelfAttentionSubmodules.linear_q_down_proj"),
    ("no-longer-passed", "MLASelfAttentionSubmodules.linear_q_proj"),
    ("no-longer-passed", "MLASelfAttentionSubmodules.linear_q_up_proj"),
    ("no-longer-passed", "MLASelfAttentionSubmodules.linear_qkv_down_proj"),
    ("no-longer-passed", "MLPSubmodules.linear_fc1"),
    ("no-longer-passed", "MLPSubmodules.linear_fc2"),
    ("no-longer-passed", "MambaLayerSubmodules.mixer"),
    ("no-longer-passed", "MambaLayerSubmodules.norm"),
    ("no-longer-passed", "MambaLayerSubmodules.norm"),
    ("no-longer-passed", "MambaLayerSubmodules.norm"),
    ("no-longer-passed", "MambaMixerSubmodules.in_proj"),
    ("no-longer-passed", "MambaMixerSubmodules.out_proj"),
    ("no-longer-passed", "MoESubmodules.experts"),
    ("no-longer-passed", "MoESubmodules.shared_experts"),
    ("no-longer-passed", "MultiTokenPredictionBlockSubmodules.layer_specs"),
    ("no-longer-passed", "MultiTokenPredictionBlockSubmodules.layer_specs"),
    ("no-longer-passed", "MultiTokenPredictionLayerSubmodules.eh_proj"),
    ("no-longer-passed", "MultiTokenPredictionLayerSubmodules.mtp_model_layer"),
    ("no-longer-passed", "SelfAttentionSubmodules.linear_proj"),
    ("no-longer-passed", "SelfAttentionSubmodules.linear_qkv"),
    ("no-longer-passed", "TransformerLayerSubmodules.cross_attention"),
    ("no-longer-passed", "TransformerLayerSubmodules.mlp"),
    ("no-longer-passed", "TransformerLayerSubmodules.self_attention"),
    ("now-passed", "MultiTokenPredictionBlockSubmodules.layer_specs"),
    ("now-passed", "TransformerLayerSubmodules.mlp"),
    ("parent-missing", "GatedDeltaNetSubmodules"),
    ("parent-missing", "HybridStackSubmodules"),
    ("positional", "MambaLayerSubmodules.norm"),
    ("protocol-removed", "AbsorbedMLASelfAttentionSubmodules.linear_proj"),
    ("protocol-removed", "CrossAttentionSubmodules.core_attention"),
    ("protocol-removed", "CrossAttentionSubmodules.linear_kv"),
    ("protocol-removed", "CrossAttentionSubmodules.linear_proj"),
    ("protocol-removed", "CrossAttentionSubmodules.linear_proj"),
    ("protocol-removed", "CrossAttentionSubmodules.linear_q"),
    ("protocol-removed", "MLASelfAttentionSubmodules.linear_proj"),
    ("protocol-removed", "MLASelfAttentionSubmodules.linear_proj"),
    ("protocol-removed", "SelfAttentionSubmodules.core_attention"),
    ("protocol-removed", "SelfAttentionSubmodules.linear_proj"),
    ("protocol-removed", "SelfAttentionSubmodules.linear_proj"),
    ("protocol-removed", "SelfAttentionSubmodules.linear_qkv"),
    ("protocol-removed", "TransformerLayerSubmodules.mlp"),
    ("protocol-removed", "TransformerLayerSubmodules.mlp"),
    ("slot-added", "AbsorbedMLASelfAttentionSubmodules.linear_k_up_proj"),
    ("slot-added", "AbsorbedMLASelfAttentionSubmodules.linear_v_up_proj"),
    ("slot-removed", "AbsorbedMLASelfAttentionSubmodules.linear_kv_up_proj"),
    ("submodules-added", "GatedDeltaNetSubmodules"),
    ("submodules-added", "MambaStackSubmodules"),
    ("submodules-removed", "GatedDeltaNetSubmodules"),
    ("submodules-removed", "HybridStackSubmodules"),
]
# Spot checks: (kind, slot, a key part of the detail) that must be among 0.17.1's drift.
SPOT_CHECKS_0_17: list[tuple[str, str, str]] = [
    (
        "implementation-signature",
        "MLPSubmodules.linear_fc1",
        "ColumnParallelLinear does not accept name",
    ),
    ("no-longer-passed", "MLPSubmodules.linear_fc1", "LinearFc1Builder parameter name"),
    ("protocol-removed", "SelfAttentionSubmodules.linear_qkv", "attention.LinearQkvInterface"),
    ("protocol-removed", "TransformerLayerSubmodules.mlp", "transformer_layer.MlpBuilder"),
    ("annotation", "TransformerLayerSubmodules.mlp", "`Union[ModuleSpec, type]`"),
    ("construction", "TransformerLayerSubmodules.mlp", "the parent uses build_module"),
    ("now-passed", "TransformerLayerSubmodules.mlp", "tp_group="),
    ("conditional", "TransformerLayerSubmodules.mlp", "is_mtp_layer is now passed only under"),
    ("conditional", "TransformerLayerSubmodules.mlp", "pg_collection is now passed only under"),
    ("now-passed", "MultiTokenPredictionBlockSubmodules.layer_specs", "mamba_submodules="),
    ("no-longer-passed", "MultiTokenPredictionBlockSubmodules.layer_specs", "hybrid_submodules"),
    (
        "implementation-signature",
        "TransformerLayerSubmodules.self_attention",
        "MLASelfAttention does not accept name, pp_layer_offset",
    ),
    (
        "submodules-added",
        "MambaStackSubmodules",
        "megatron.core.ssm.mamba_block.MambaStackSubmodules",
    ),
    ("submodules-removed", "HybridStackSubmodules", "hybrid_block.HybridStackSubmodules"),
    ("implementation-missing", "TransformerLayerSubmodules.mlp", "TEFusedMLPWithGroupedLinear"),
]


def _wheel(version: str) -> Path:
    """The cached megatron-core wheel, downloaded with pip the first time."""
    cached = sorted(WHEELS.glob(f"megatron_core-{version}-*.whl"))
    if cached:
        return cached[0]
    WHEELS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"megatron-core=={version}",
            "--no-deps",
            "--quiet",
            "-d",
            str(WHEELS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    cached = sorted(WHEELS.glob(f"megatron_core-{version}-*.whl"))
    if not cached:
        pytest.skip(
            f"megatron-core {version} could not be downloaded: {result.stderr.strip()[-300:]}"
        )
    return cached[0]


def _unpacked(version: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp(f"megatron-core-{version}")
    with zipfile.ZipFile(_wheel(version)) as wheel:
        wheel.extractall(target, [n for n in wheel.namelist() if n.startswith("megatron/")])
    return target


@pytest.fixture(scope="module")
def release_0_18(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _unpacked("0.18.2", tmp_path_factory)


@pytest.fixture(scope="module")
def drift_0_17(tmp_path_factory: pytest.TempPathFactory) -> list[Drift]:
    root = _unpacked("0.17.1", tmp_path_factory)
    with src.reading(root):
        return find_drift(load_catalog(SCHEMAS))


def _has(found: list[tuple[str, str, str]], kind: str, slot: str, key: str) -> bool:
    return any(k == kind and s == slot and key in d for k, s, d in found)


def test_installed_megatron_core_is_in_sync_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert importlib.metadata.version("megatron-core") == "0.19.2"
    assert main(["check"]) == 0
    assert "in sync" in capsys.readouterr().out


def test_a_folder_without_megatron_core_is_bad_input_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--megatron-root", str(tmp_path), "--json"]) == 2
    assert "no megatron/core source tree" in capsys.readouterr().err


def test_megatron_core_0_18_2_drift_is_exactly_the_verified_list_as_json_exit_1(
    release_0_18: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--megatron-root", str(release_0_18), "--json"]) == 1
    items = json.loads(capsys.readouterr().out)
    assert all(set(item) == {"kind", "slot", "detail", "file", "line"} for item in items)
    found = [(i["kind"], i["slot"], i["detail"]) for i in items]
    assert sorted((k, s) for k, s, _ in found) == sorted((k, s) for k, s, _ in EXPECTED_0_18)
    missing = [e for e in EXPECTED_0_18 if not _has(found, *e)]
    assert not missing, f"details differ: {missing}\nfound: {found}"
    norm = next(i for i in items if i["kind"] == "positional")
    assert (norm["file"], norm["line"]) == ("megatron/core/ssm/mamba_layer.py", 98)


def test_megatron_core_0_17_1_drift_is_exactly_the_verified_set(drift_0_17: list[Drift]) -> None:
    pairs = sorted((d.kind, d.slot) for d in drift_0_17)
    assert Counter(kind for kind, _ in pairs) == EXPECTED_0_17_COUNTS
    assert pairs == sorted(EXPECTED_0_17)
    found = [(d.kind, d.slot, d.detail) for d in drift_0_17]
    missing = [e for e in SPOT_CHECKS_0_17 if not _has(found, *e)]
    assert not missing, f"details differ: {missing}"
    # Every signature drift but the MTP layer and MLA ones is the missing `name` parameter.
    others = [
        d.detail
        for d in drift_0_17
        if d.kind == "implementation-signature" and not d.detail.endswith("does not accept name")
    ]
    assert sorted(others) == [
        "AbsorbedMLASelfAttention does not accept name, pp_layer_offset",
        "FusedMLASelfAttention does not accept name, pp_layer_offset",
        "MLASelfAttention does not accept name, pp_layer_offset",
        "MultiTokenPredictionLayer does not accept hybrid_submodules, name",
    ]


def test_the_table_groups_drift_by_slot_and_counts_each_kind(drift_0_17: list[Drift]) -> None:
    console = Console(width=200, record=True, force_terminal=False)
    print_report(console, drift_0_17, "megatron-core 0.17.1")
    text = console.export_text()
    assert "drift against megatron-core 0.17.1" in text
    assert "MambaStackSubmodules" in text
    assert "megatron/core/tensor_parallel/layers.py:780" in text
    assert text.count("TransformerLayerSubmodules.mlp ") == 1  # the slot is named once
    assert f"{len(drift_0_17)} differences in " in text
    assert "implementation-signature 78" in text


def _edit(path: Path, old: str, new: str, after: str = "") -> None:
    text = path.read_text(encoding="utf-8")
    start = text.index(after) if after else 0
    at = text.index(old, start)
    path.write_text(text[:at] + new + text[at + len(old) :], encoding="utf-8")


def test_each_kind_of_edit_to_the_installed_source_is_reported_where_it_is(
    tmp_path: Path,
) -> None:
    """A copy of the installed 0.19.2 source, edited the ways an upgrade can change it."""
    core = tmp_path / "megatron" / "core"
    shutil.copytree(src.core_dir(), core, ignore=shutil.ignore_patterns("__pycache__"))
    mlp, layers = core / "transformer" / "mlp.py", core / "tensor_parallel" / "layers.py"
    _edit(mlp, "linear_fc2: LinearFc2Builder", "linear_fc2: list[LinearFc2Builder]")
    _edit(
        mlp,
        "activation_func: TEActivationFunctionBuilder | None = None",
        "activation_func: TEActivationFunctionBuilder | None = IdentityOp\n"
        "    linear_extra: LinearFc1Builder | None = None",
    )
    _edit(
        mlp,
        "config=self.config,\n",
        "config=self.config,\n            new_flag=True,\n",
        after="self.linear_fc1 = submodules.linear_fc1(",
    )
    _edit(layers, "        stride=1,\n", "", after="class ColumnParallelLinear(")
    _edit(
        layers,
        "def backward_dw(self)",
        "def backward_dw_gone(self)",
        after="class ColumnParallelLinear(",
    )
    with src.reading(tmp_path):
        found = find_drift(load_catalog(SCHEMAS))
    got = {(d.kind, d.slot, d.detail, d.where) for d in found}
    fc1, fc2, act = (f"MLPSubmodules.{n}" for n in ("linear_fc1", "linear_fc2", "activation_func"))
    # (a list field is built element by element, so fc2's call site no longer counts: no-call-site)
    assert {d.kind for d in found} == {
        "no-call-site",
        "slot-added",
        "default",
        "list",
        "now-passed",
        "implementation-signature",
        "interface-method",
    }, got
    assert _has(
        [g[:3] for g in got], "slot-added", "MLPSubmodules.linear_extra", "LinearFc1Builder"
    )
    assert _has([g[:3] for g in got], "default", act, "upstream `= IdentityOp`")
    assert _has([g[:3] for g in got], "list", fc2, "list[LinearFc2Builder]")
    assert _has([g[:3] for g in got], "now-passed", fc1, "new_flag=")
    assert _has(
        [g[:3] for g in got],
        "implementation-signature",
        fc1,
        "ColumnParallelLinear does not accept stride",
    )
    assert _has(
        [g[:3] for g in got], "interface-method", fc1, "ColumnParallelLinear has no backward_dw()"
    )
    where = {(d.kind, d.slot): d.where for d in found}
    assert where[("now-passed", fc1)].startswith("megatron/core/transformer/mlp.py:")
    assert where[("list", fc2)].startswith("megatron/core/transformer/mlp.py:")
    # only ColumnParallelLinear lost stride: TE/Inference column-parallel classes are untouched
    signature = {d.detail for d in found if d.kind == "implementation-signature"}
    assert signature == {"ColumnParallelLinear does not accept stride"}
