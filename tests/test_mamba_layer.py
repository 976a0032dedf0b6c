"""MambaLayer's slots, exercised through megatron-core's own MambaLayer.

* On the CPU: MambaLayer is built and run with a recording stand-in in its mixer slot
  (tests/mamba_recording_mixer.py, which pyright checks against the generated MambaMixerBuilder
  and MambaMixerInterface). What MambaLayer passes when it builds and calls the mixer is
  recorded twice (by a spy on the `build_module` MambaLayer calls, and by the stand-in itself),
  and must bind to the generated Protocols' signatures (`inspect.signature(...).bind`) and equal
  what MambaLayer was given.
* MambaMixer itself needs mamba-ssm (its __init__ raises ImportError without it) and CUDA: its
  test is marked `gpu` and skips with the reason where either is missing; where mamba-ssm is
  missing, the generated adapter's guard is checked instead.
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from megatron.core.fusions.fused_bias_dropout import get_bias_dropout_add
from megatron.core.process_groups_config import ProcessGroupCollection
from megatron.core.ssm import mamba_layer as upstream_mamba_layer
from megatron.core.ssm import mamba_mixer as upstream_mamba_mixer
from megatron.core.ssm.mamba_layer import MambaLayer, MambaLayerSubmodules
from megatron.core.ssm.mamba_mixer import HAVE_MAMBA_SSM, MambaMixer, MambaMixerSubmodules
from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear
from megatron.core.transformer.spec_utils import ModuleSpec, build_module
from megatron.core.transformer.torch_norm import WrappedTorchNorm

from generated.megatron_core import (
    LayerNormFromWrappedTorchNorm,
    MambaBiasDropoutAddFromGetBiasDropoutAdd,
    MambaInProjFromColumnParallelLinear,
    MambaMixerBuilder,
    MambaMixerFromMambaMixer,
    MambaMixerInterface,
    MambaOutProjFromRowParallelLinear,
    mamba_layer_submodules,
    mamba_mixer_submodules,
)
from tests.mamba_recording_mixer import Call, RecordingMixer
from tests.megatron_cpu import assert_same_module, make_config, seed_everything
from tests.pyright_runner import ROOT, run_pyright

LAYER_NUMBER = 3
PP_LAYER_OFFSET = 1
NAME = "decoder.layers.2"


def _bind(function: Any, call: Call) -> inspect.BoundArguments:
    """Binds a recorded call to a Protocol method's signature (self included, as None)."""
    return inspect.signature(function).bind(None, *call.args, **call.kwargs)


def _build_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[MambaLayer, list[Call], ProcessGroupCollection]:
    """A MambaLayer whose mixer is the recording stand-in, with MambaLayer's build_module spied on."""
    real_build_module = upstream_mamba_layer.build_module
    mixer_builds: list[Call] = []

    def spy(spec: Any, *args: Any, **kwargs: Any) -> Any:
        if spec is RecordingMixer:
            mixer_builds.append(Call(args, kwargs))
        return real_build_module(spec, *args, **kwargs)

    monkeypatch.setattr(upstream_mamba_layer, "build_module", spy)
    pg_collection = ProcessGroupCollection.use_mpu_process_groups()
    submodules = mamba_layer_submodules(
        norm=LayerNormFromWrappedTorchNorm(),
        mixer=RecordingMixer,
        mamba_bda=MambaBiasDropoutAddFromGetBiasDropoutAdd(),
    )
    seed_everything(11)
    layer = MambaLayer(
        config=make_config(),
        submodules=submodules,
        layer_number=LAYER_NUMBER,
        pg_collection=pg_collection,
        pp_layer_offset=PP_LAYER_OFFSET,
        name=NAME,
    )
    return layer, mixer_builds, pg_collection


def test_the_recording_mixer_is_pyright_clean_against_the_generated_protocols(
    tmp_path: Path,
) -> None:
    shutil.copy(ROOT / "tests" / "mamba_recording_mixer.py", tmp_path / "recording_mixer.py")
    errors, summary = run_pyright(tmp_path)
    assert not errors, errors
    assert summary["filesAnalyzed"] == 1


WRONG_MIXER = '''
import torch
from megatron.core.process_groups_config import ProcessGroupCollection
from megatron.core.transformer.transformer_config import TransformerConfig

from generated.megatron_core.mamba_layer import MambaMixerBuilder


class NoOffset(torch.nn.Module):
    """Lacks pp_layer_offset, which MambaLayer always passes."""

    def __init__(
        self,
        config: TransformerConfig,
        /,
        *,
        d_model: int,
        layer_number: int,
        pg_collection: ProcessGroupCollection,
        name: str | None,
    ) -> None:
        super().__init__()


wrong: MambaMixerBuilder = NoOffset
'''


def test_pyright_rejects_a_mixer_that_lacks_a_builder_parameter(tmp_path: Path) -> None:
    (tmp_path / "wrong_mixer.py").write_text(WRONG_MIXER)
    errors, _ = run_pyright(tmp_path)
    assert len(errors) == 1, errors
    assert "MambaMixerBuilder" in errors[0].message and "pp_layer_offset" in errors[0].message


@pytest.mark.usefixtures("megatron_parallel_state")
def test_mamba_layer_builds_the_mixer_with_what_the_builder_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer, mixer_builds, pg_collection = _build_layer(monkeypatch)
    mixer = layer.mixer
    assert isinstance(mixer, RecordingMixer)

    # What MambaLayer passed to build_module for the mixer, as passed ...
    assert len(mixer_builds) == 1
    passed = mixer_builds[0]
    bound = _bind(MambaMixerBuilder.__call__, passed)
    expected = dict(
        config=layer.config,
        d_model=layer.config.hidden_size,
        layer_number=LAYER_NUMBER,
        pg_collection=pg_collection,
        pp_layer_offset=PP_LAYER_OFFSET,
        name=f"{NAME}.mixer",
    )
    assert {k: v for k, v in bound.arguments.items() if k != "self"} == expected
    assert passed.args == (layer.config,)  # config is positional, as the Builder declares
    # ... and as the stand-in received it.
    assert mixer.built_with == passed
    assert _bind(MambaMixerBuilder.__call__, mixer.built_with).arguments == bound.arguments


@pytest.mark.usefixtures("megatron_parallel_state")
def test_mamba_layer_calls_the_mixer_as_the_interface_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer, _, _ = _build_layer(monkeypatch)
    mixer = layer.mixer
    assert isinstance(mixer, RecordingMixer)
    config = layer.config
    hidden = torch.randn(4, 2, config.hidden_size)

    output = layer(hidden)

    assert len(mixer.forward_calls) == 1
    call = mixer.forward_calls[0]
    bound = _bind(MambaMixerInterface.forward, call)
    assert set(bound.arguments) == {
        "self",
        "hidden_states",
        "inference_context",
        "packed_seq_params",
    }
    assert bound.arguments["inference_context"] is None
    assert bound.arguments["packed_seq_params"] is None
    # The mixer sees the normalized input (norm slot: WrappedTorchNorm) ...
    norm = layer.norm
    assert isinstance(norm, torch.nn.LayerNorm)
    torch.testing.assert_close(call.args[0], norm(hidden), rtol=0, atol=0)
    # ... and the bias-dropout-add (get_bias_dropout_add, no dropout) adds the residual.
    torch.testing.assert_close(output, hidden + mixer.proj(norm(hidden)), rtol=0, atol=0)
    assert layer.mamba_state_shapes_per_request() == RecordingMixer.STATE_SHAPES


# --- MambaMixer (needs mamba-ssm) ------------------------------------------------------------

MAMBA_CONFIG: dict[str, Any] = dict(
    mamba_state_dim=16, mamba_head_dim=16, mamba_num_groups=1, use_cpu_initialization=False
)


@pytest.mark.skipif(HAVE_MAMBA_SSM, reason="mamba-ssm is installed: MambaMixer builds")
def test_mamba_mixer_adapter_refuses_early_without_mamba_ssm() -> None:
    adapter = MambaMixerFromMambaMixer(
        submodules=mamba_mixer_submodules(
            in_proj=MambaInProjFromColumnParallelLinear(),
            out_proj=MambaOutProjFromRowParallelLinear(),
        )
    )
    with pytest.raises(ModuleNotFoundError, match="MambaMixer needs mamba_ssm"):
        adapter(
            make_config(),
            d_model=64,
            layer_number=1,
            pg_collection=ProcessGroupCollection(),
            pp_layer_offset=0,
            name=None,
        )


@pytest.mark.gpu
@pytest.mark.usefixtures("megatron_parallel_state")
def test_mamba_mixer_in_a_mamba_layer_builds_what_upstreams_local_spec_builds() -> None:
    """The generated TE-free Mamba layer (WrappedTorchNorm, ColumnParallelLinear,
    RowParallelLinear) is the module ModelOpt's spec shape gives with upstream's classes, and it
    runs forward on CUDA (in training mode: the memory-efficient path)."""
    if not HAVE_MAMBA_SSM:
        pytest.skip(
            "needs mamba-ssm (MambaMixer.__init__ raises ImportError without it; "
            "megatron.core.ssm.mamba_mixer.HAVE_MAMBA_SSM is False here)"
        )
    if upstream_mamba_mixer.causal_conv1d_fn is None:
        pytest.skip(
            "needs causal-conv1d: MambaMixer's training path (mamba_split_conv1d_scan_combined) "
            "runs its CUDA kernel"
        )
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device: MambaMixer allocates its parameters on CUDA")
    pg_collection = ProcessGroupCollection.use_mpu_process_groups()
    arguments: dict[str, Any] = dict(layer_number=1, pg_collection=pg_collection, name="layer")
    generated = ModuleSpec(
        module=MambaLayer,
        submodules=mamba_layer_submodules(
            norm=LayerNormFromWrappedTorchNorm(),
            mixer=MambaMixerFromMambaMixer(
                submodules=mamba_mixer_submodules(
                    in_proj=MambaInProjFromColumnParallelLinear(),
                    out_proj=MambaOutProjFromRowParallelLinear(),
                )
            ),
            mamba_bda=MambaBiasDropoutAddFromGetBiasDropoutAdd(),
            sharded_state_dict_keys_map={"norm.": "mixer.in_proj.layer_norm_"},
        ),
    )
    upstream = ModuleSpec(
        module=MambaLayer,
        submodules=MambaLayerSubmodules(
            norm=WrappedTorchNorm,
            mixer=ModuleSpec(
                module=MambaMixer,
                submodules=MambaMixerSubmodules(
                    in_proj=ColumnParallelLinear, out_proj=RowParallelLinear
                ),
            ),
            mamba_bda=get_bias_dropout_add,
            sharded_state_dict_keys_map={"norm.": "mixer.in_proj.layer_norm_"},
        ),
    )
    layers: list[MambaLayer] = []
    for spec in (generated, upstream):
        seed_everything(5)
        layer = build_module(spec, config=make_config(**MAMBA_CONFIG), **arguments)
        assert isinstance(layer, MambaLayer)
        layers.append(layer.cuda())
    assert_same_module(layers[0], layers[1])
    hidden = torch.randn(16, 2, 64, device="cuda")
    outputs = [layer(hidden) for layer in layers]
    # Same parameters, same input, same kernels: equal outputs (default float32 tolerances, in
    # case a Triton kernel does not reduce in a fixed order).
    torch.testing.assert_close(outputs[0], outputs[1])
    assert outputs[0].shape == hidden.shape
