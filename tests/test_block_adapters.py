"""Block-level adapters at run time: TransformerBlock and the multi-token prediction block, built
from the generated adapters through their real parents, match what upstream's specs build."""

import dataclasses

import torch
from megatron.core.models.gpt.gpt_layer_specs import (
    get_gpt_layer_local_spec as upstream_local_layer_spec,
)
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_mtp_block_spec
from megatron.core.process_groups_config import ProcessGroupCollection
from megatron.core.transformer.multi_token_prediction import (
    MultiTokenPredictionBlock,
    MultiTokenPredictionBlockSubmodules,
    MultiTokenPredictionLayerSubmodules,
)
from megatron.core.transformer.spec_utils import build_module
from megatron.core.transformer.torch_norm import WrappedTorchNorm
from megatron.core.transformer.transformer_block import (
    TransformerBlock,
    TransformerBlockSubmodules,
)
from megatron.core.transformer.transformer_layer import TransformerLayer

from generated.megatron_core import (
    EhProjFromColumnParallelLinear,
    LayerNormFromWrappedTorchNorm,
    MtpLayerFromMultiTokenPredictionLayer,
    MtpModelLayerFromTransformerLayer,
    TransformerBlockLayerFromTransformerLayer,
)
from generated.megatron_core.gpt_specs import get_gpt_layer_local_spec
from tests.megatron_cpu import assert_same_module, make_config, seed_everything


def _typed_layer() -> TransformerBlockLayerFromTransformerLayer:
    return TransformerBlockLayerFromTransformerLayer(
        submodules=get_gpt_layer_local_spec().submodules
    )


def test_transformer_block_from_adapters_matches_upstream_block(
    megatron_parallel_state: None,
) -> None:
    config = make_config()
    typed = TransformerBlockSubmodules(
        layer_specs=[_typed_layer() for _ in range(config.num_layers)],
        layer_norm=LayerNormFromWrappedTorchNorm(),
    )
    upstream = TransformerBlockSubmodules(
        layer_specs=[upstream_local_layer_spec()] * config.num_layers, layer_norm=WrappedTorchNorm
    )
    seed_everything(3)
    built = TransformerBlock(config=config, spec=typed)
    seed_everything(3)
    expected = TransformerBlock(config=config, spec=upstream)
    assert [layer.layer_number for layer in built.layers] == [1, 2]
    assert built.final_layernorm is not None
    assert_same_module(built, expected)


def test_transformer_block_layer_adapter_builds_the_same_layer_on_both_paths(
    megatron_parallel_state: None,
) -> None:
    config = make_config()
    arguments = dict(
        config=config,
        layer_number=2,
        pg_collection=ProcessGroupCollection.use_mpu_process_groups(),
        vp_stage=None,
    )
    adapter = _typed_layer()
    seed_everything(5)
    built = build_module(adapter, **arguments)
    seed_everything(5)
    called = adapter(**arguments)
    assert isinstance(built, TransformerLayer) and isinstance(called, TransformerLayer)
    assert_same_module(built, called)


def test_mtp_block_from_adapters_matches_upstream_gpt_mtp_block(
    megatron_parallel_state: None,
) -> None:
    config = dataclasses.replace(make_config(), mtp_num_layers=1)
    typed = MultiTokenPredictionBlockSubmodules(
        layer_specs=[
            MtpLayerFromMultiTokenPredictionLayer(
                submodules=MultiTokenPredictionLayerSubmodules(
                    enorm=LayerNormFromWrappedTorchNorm(),
                    hnorm=LayerNormFromWrappedTorchNorm(),
                    layer_norm=LayerNormFromWrappedTorchNorm(),
                    eh_proj=EhProjFromColumnParallelLinear(),
                    mtp_model_layer=MtpModelLayerFromTransformerLayer(
                        submodules=get_gpt_layer_local_spec().submodules
                    ),
                )
            )
        ]
    )
    upstream = get_gpt_mtp_block_spec(
        config, upstream_local_layer_spec(), use_transformer_engine=False
    )
    assert upstream is not None
    pg_collection = ProcessGroupCollection.use_mpu_process_groups()
    seed_everything(11)
    built = MultiTokenPredictionBlock(config=config, spec=typed, pg_collection=pg_collection)
    seed_everything(11)
    expected = MultiTokenPredictionBlock(config=config, spec=upstream, pg_collection=pg_collection)
    assert [layer.layer_number for layer in built.layers] == [1]
    assert_same_module(built, expected)
