"""Every generated name, decided in one place."""

import re

from generator.model import BUNDLED_PACKAGE, Builder, Implementation

# The package of the generated modules of the bundled descriptions (and of the run-time helpers
# in SUPPORT_MODULE, which a user's generated modules import from there too).
PACKAGE = BUNDLED_PACKAGE

# What a description may import from (`imports`): megatron-core, torch, the typing names its
# annotations use, and this package's own generated classes (e.g. a lifted subclass).
IMPORT_PACKAGES = ("megatron.core.", "torch.", "typing.", "collections.abc.", f"{PACKAGE}.")

# The generated module of static run-time checks and helpers (templates/spec_values.py.j2).
SUPPORT_MODULE = "spec_values"

# Its helpers that spec factories may call (`{"call": ...}`).
SUPPORT_FUNCTIONS = frozenset(
    {
        "attention_mlp_pairs",
        "experimental_attention_pattern",
        "experimental_mlp_pattern",
        "experimental_stage_layers",
        "get_linear_attention_pattern",
        "get_moe_layer_pattern",
        "is_linear_attention_variant",
        "layer_pattern_specs",
        "mla_down_proj_fusion",
        "moe_layer_pattern",
        "mtp_decoder_layer",
        "mtp_layers_to_build",
        "mtp_stage_layers",
        "not_generated",
        "not_none",
        "pattern_pair_specs",
        "pipeline_stage_layers",
        "te_at_least",
        "te_grouped_linear_available",
        "with_fused_input_layernorm",
    }
)

# Its predicates that conditions may call with literal arguments.
SUPPORT_PREDICATES = frozenset({"te_at_least", "te_grouped_linear_available"})

# Names the generator itself imports into generated modules (local name -> object), besides a
# description's imports and the generated names. A description name equal to one of them would
# change what the generated code means (a factory `cast`, a parameter `module_spec_or_type`).
GENERATOR_IMPORTS: dict[str, str] = {
    "Protocol": "typing.Protocol",
    "cast": "typing.cast",
    "dataclass": "dataclasses.dataclass",
    "field": "dataclasses.field",
    "Sequence": "collections.abc.Sequence",
    "warn": "warnings.warn",
    "ModuleSpec": "megatron.core.transformer.spec_utils.ModuleSpec",
    "BackendSpecProvider": "megatron.core.models.backends.BackendSpecProvider",
    "HAVE_TE": "megatron.core.extensions.transformer_engine.HAVE_TE",
    "HAVE_MAMBA_SSM": "megatron.core.ssm.mamba_mixer.HAVE_MAMBA_SSM",
    **{
        name: f"{PACKAGE}.{SUPPORT_MODULE}.{name}"
        for name in ("module_spec", "module_spec_or_type", "not_none", *SUPPORT_FUNCTIONS)
    },
}

# Builtins the generated functions use (calls, raises, default factories, `type[...]`).
GENERATED_BUILTINS = frozenset(
    {
        "AssertionError",
        "ModuleNotFoundError",
        "NotImplementedError",
        "UserWarning",
        "ValueError",
        "dict",
        "list",
        "super",
        "type",
    }
)

# Attributes of megatron's ModuleSpec, which build_module-path adapters subclass.
MODULE_SPEC_ATTRIBUTES = frozenset({"module", "params", "submodules", "metainfo"})


def protocol_stem(builder: Builder) -> str:
    """`LayerNormBuilder` -> `LayerNorm`."""
    return builder.name.removesuffix("Builder")


def pascal_case(name: str) -> str:
    """`get_bias_dropout_add` -> `GetBiasDropoutAdd`; `MLP` stays `MLP`."""
    if "_" not in name and name[:1].isupper():
        return name
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def adapter_name(builder: Builder, implementation: Implementation) -> str:
    """`LayerNormFromWrappedTorchNorm`: a LayerNorm builder made from WrappedTorchNorm."""
    return f"{protocol_stem(builder)}From{pascal_case(implementation.object)}"


def typed_binding_name(implementation: Implementation) -> str:
    """Module-level name of an unannotated or private upstream object bound once."""
    return f"_{implementation.object.lstrip('_')}"


def is_private(name: str) -> bool:
    """An upstream object whose name starts with `_` (imported once, with a named suppression)."""
    return name.startswith("_")


def is_bound_once(implementation: Implementation) -> bool:
    """The adapter calls a module-level binding (`typed_binding_name`), not the import itself:
    the object is unannotated (bound to its type) or private (imported with a suppression)."""
    return implementation.unannotated or is_private(implementation.object)


def module_import_alias(module: str) -> str:
    """`megatron.core.fusions.fused_bias_dropout` -> `fused_bias_dropout`."""
    return module.rsplit(".", 1)[-1]


def submodules_constructor_name(submodules: str) -> str:
    """`MLASelfAttentionSubmodules` -> `mla_self_attention_submodules`; `MoESubmodules` ->
    `moe_submodules`."""
    words = submodules.replace("MoE", "Moe")  # one word, as upstream spells it in snake case
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", words).lower()


def lifted_class_name(parent_class: str) -> str:
    """`HybridStack` -> `HybridStackWithLiftedSlots`: the parent's subclass that builds the lifted
    slots from its Submodules instead of hard-coding them."""
    return f"{parent_class}WithLiftedSlots"


def lifted_class_path(qualified_module: str, parent_class: str) -> str:
    """The qualified path of the lifted subclass generated in `qualified_module` (what a
    description imports to name it as a spec's parent)."""
    return f"{qualified_module}.{lifted_class_name(parent_class)}"


def lifted_submodules_name(parent_class: str) -> str:
    """`HybridStack` -> `HybridStackWithLiftedSlotsSubmodules`: the Submodules subclass that adds
    the lifted slots."""
    return f"{lifted_class_name(parent_class)}Submodules"
