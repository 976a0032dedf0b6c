"""Config fields a spec silently ignores, for `conformance` (each rule cites megatron's source).

* moe_layer_freq / num_moe_experts: TransformerLayer builds its mlp from the spec alone
  (transformer_layer.py, "[Module 8: MLP block]"); only the spec factories
  (gpt_layer_specs.get_gpt_decoder_layer_specs) read config.moe_layer_freq. A single layer spec
  used for every layer ignores the pattern (upstream issue #6059).
* qk_layernorm: SelfAttention uses ``submodules.q_layernorm or TENorm`` when config.qk_layernorm
  is set (attention.py, "Resolve which norm class to use for Q and K"), so IdentityOp in the spec
  wins silently; a spec norm with qk_layernorm off raises ValueError when the model is built.
* normalization: FusedLayerNorm asserts config.normalization == "LayerNorm"
  (fusions/fused_layer_norm.py); L2Norm ignores config.normalization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from generator.spec_tree import SpecNode
from generator.commands.spec_walk import WalkNode


@dataclass(frozen=True)
class Finding:
    field: str
    message: str


def _name(node: WalkNode) -> str:
    return node.implementation.rpartition(".")[2]


def _layers(root: WalkNode) -> tuple[list[WalkNode], bool]:
    """The layer nodes and whether the spec is a single layer spec (used for every layer)."""
    if _name(root) == "TransformerLayer" and isinstance(root.tree, SpecNode):
        return [root], True
    layers = [
        node
        for node in root.walk()
        if node is not root
        and _name(node) == "TransformerLayer"
        and node.slot.startswith(("layer_specs", "["))
    ]
    return layers, False


def _child(node: WalkNode, slot: str) -> WalkNode | None:
    return next((child for child in node.children if child.slot == slot), None)


def _is_moe(layer: WalkNode) -> bool | None:
    mlp = _child(layer, "mlp")
    if mlp is None:
        return None
    return _name(mlp) == "MoELayer"


def moe_pattern(config: object) -> list[int] | None:
    """config.moe_layer_freq as one 0/1 per layer (as get_moe_layer_pattern parses it)."""
    if cast(object, getattr(config, "num_moe_experts", None)) is None:
        return None
    frequency = cast(object, getattr(config, "moe_layer_freq", 1))
    layers = cast(int, getattr(config, "num_layers"))
    if isinstance(frequency, int):
        return [1 if index % frequency == 0 else 0 for index in range(layers)]
    if isinstance(frequency, list):
        return [int(cast(int, item)) for item in cast(list[object], frequency)]
    return None


def _get(config: object, name: str) -> int:
    value = cast(object, getattr(config, name, None))
    return value if isinstance(value, int) else 0


def layer_parameters(config: object, moe: bool) -> int:
    """Approximate weights of one layer (attention, MLP or experts with router; no norms, biases
    or embeddings)."""
    hidden = _get(config, "hidden_size")
    heads = _get(config, "num_attention_heads")
    kv_channels = _get(config, "kv_channels") or hidden // max(heads, 1)
    groups = _get(config, "num_query_groups") or heads
    attention = hidden * kv_channels * (heads + 2 * groups) + heads * kv_channels * hidden
    gated = 2 if cast(object, getattr(config, "gated_linear_unit", False)) else 1
    if not moe:
        ffn = _get(config, "ffn_hidden_size")
        return attention + hidden * ffn * gated + ffn * hidden
    experts = _get(config, "num_moe_experts")
    ffn = _get(config, "moe_ffn_hidden_size") or _get(config, "ffn_hidden_size")
    shared = _get(config, "moe_shared_expert_intermediate_size")
    mlp = experts * (hidden * ffn * gated + ffn * hidden) + hidden * experts
    return attention + mlp + (hidden * shared * gated + shared * hidden)


def _millions(count: int) -> str:
    return f"{count / 1e6:.1f}M"


def find_ignored(root: WalkNode, config: object) -> list[Finding]:
    findings: list[Finding] = []
    layers, single = _layers(root)
    pattern = moe_pattern(config)
    experts = cast(object, getattr(config, "num_moe_experts", None))
    num_layers = _get(config, "num_layers")
    kinds = [_is_moe(layer) for layer in layers]
    if layers and experts is not None and not any(kinds):
        findings.append(
            Finding(
                "num_moe_experts",
                f"num_moe_experts={experts} is ignored: the spec's mlp is dense in every layer,"
                " so no layer has experts (TransformerLayer builds its mlp from the spec).",
            )
        )
    elif single and pattern is not None and kinds == [True] and 0 in pattern:
        dense = pattern.count(0)
        intended = sum(layer_parameters(config, bool(item)) for item in pattern)
        built = num_layers * layer_parameters(config, True)
        findings.append(
            Finding(
                "moe_layer_freq",
                f"moe_layer_freq={getattr(config, 'moe_layer_freq')!r} asks for {dense} dense"
                f" layer(s) of {num_layers}, but a single MoE layer spec is used for every layer:"
                f" all {num_layers} layers are built as MoE (upstream issue #6059). Estimated"
                f" decoder weights: {_millions(built)} built instead of {_millions(intended)}"
                f" ({built / max(intended, 1):.1f}x). Use a decoder block spec"
                " (get_gpt_decoder_block_spec(config, ...)) instead.",
            )
        )
    elif not single and pattern is not None and len(layers) == len(pattern):
        wrong = [
            index
            for index, (kind, wanted) in enumerate(zip(kinds, pattern))
            if kind is not None and kind != bool(wanted)
        ]
        if wrong:
            findings.append(
                Finding(
                    "moe_layer_freq",
                    f"moe_layer_freq={getattr(config, 'moe_layer_freq')!r} is not what the spec"
                    f" builds: layer(s) {wrong} have the other kind of mlp.",
                )
            )
    findings.extend(_qk_layernorm(root, config))
    findings.extend(_normalization(root, config))
    return findings


def _qk_layernorm(root: WalkNode, config: object) -> list[Finding]:
    wanted = bool(cast(object, getattr(config, "qk_layernorm", False)))
    l2 = bool(cast(object, getattr(config, "qk_l2_norm", False)))
    found: list[Finding] = []
    for node in root.walk():
        if _name(node) != "SelfAttention":
            continue
        norms = [_child(node, "q_layernorm"), _child(node, "k_layernorm")]
        names = [_name(norm) if norm is not None else "None" for norm in norms]
        has_norm = any(name not in ("IdentityOp", "None (not built)", "None") for name in names)
        if (wanted or l2) and names and all(name == "IdentityOp" for name in names):
            found.append(
                Finding(
                    "qk_layernorm",
                    "qk_layernorm=True is ignored: the spec's q_layernorm/k_layernorm are"
                    " IdentityOp, which SelfAttention uses as given (no query/key norm is built).",
                )
            )
            break
        if has_norm and not (wanted or l2):
            found.append(
                Finding(
                    "qk_layernorm",
                    f"qk_layernorm=False but the spec puts {names[0]} in q_layernorm/k_layernorm:"
                    " SelfAttention raises ValueError when the model is built.",
                )
            )
            break
    return found


def _normalization(root: WalkNode, config: object) -> list[Finding]:
    normalization = cast(object, getattr(config, "normalization", "LayerNorm"))
    for node in root.walk():
        if node.builder != "LayerNormBuilder" or node.slot in ("q_layernorm", "k_layernorm"):
            continue
        name = _name(node)
        if name == "FusedLayerNorm" and normalization != "LayerNorm":
            return [
                Finding(
                    "normalization",
                    f"normalization={normalization!r}, but {node.slot} is FusedLayerNorm, which"
                    " only supports LayerNorm (AssertionError when the model is built).",
                )
            ]
        if name == "L2Norm" and normalization != "L2Norm":
            return [
                Finding(
                    "normalization",
                    f"normalization={normalization!r} is ignored in {node.slot}: the spec fixes"
                    " L2Norm.",
                )
            ]
    return []
