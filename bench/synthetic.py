"""Synthetic description sets for the scaling bench: `count` slot contracts shaped like the
bundled normalization slot (a Builder, its Interface, two implementations), five per file."""

import json
import shutil
from pathlib import Path

SLOTS_PER_FILE = 5
_IMPORTS = {
    "Tensor": "torch.Tensor",
    "TransformerConfig": "megatron.core.transformer.transformer_config.TransformerConfig",
    "WrappedTorchNorm": "megatron.core.transformer.torch_norm.WrappedTorchNorm",
    "IdentityOp": "megatron.core.transformer.identity_op.IdentityOp",
}


def _contract(stem: str) -> tuple[dict[str, object], dict[str, object]]:
    interface: dict[str, object] = {
        "name": f"{stem}Interface",
        "doc": "Maps hidden states to hidden states of the same shape.",
        "methods": [
            {
                "name": "forward",
                "doc": "Normalizes `x` over its last dimension.",
                "parameters": [{"name": "x", "kind": "positional", "type": "Tensor"}],
                "returns": "Tensor",
            }
        ],
    }
    passed = {"config": "pass", "hidden_size": "pass", "eps": "pass"}
    builder: dict[str, object] = {
        "name": f"{stem}Builder",
        "doc": "How a synthetic parent builds this slot.",
        "construction": "call",
        "returns": f"{stem}Interface",
        "parameters": [
            {"name": "config", "kind": "keyword", "type": "TransformerConfig"},
            {"name": "hidden_size", "kind": "keyword", "type": "int"},
            {"name": "eps", "kind": "keyword", "type": "float"},
        ],
        "implementations": [
            {
                "object": "WrappedTorchNorm",
                "construction": "class",
                "doc": "torch's norm.",
                "arguments": passed,
            },
            {
                "object": "IdentityOp",
                "construction": "class",
                "doc": "No normalization.",
                "arguments": passed,
            },
        ],
    }
    return interface, builder


def write_project(root: Path, slots: int, schema: Path) -> Path:
    """A project root with `slots` synthetic slot contracts under schemas/megatron_core/."""
    folder = root / "schemas" / "megatron_core"
    folder.mkdir(parents=True)
    shutil.copyfile(schema, root / "schemas" / "slot.schema.json")
    for number in range(0, slots, SLOTS_PER_FILE):
        contracts = [
            _contract(f"Synthetic{number + offset}")
            for offset in range(min(SLOTS_PER_FILE, slots - number))
        ]
        description = {
            "$schema": "../slot.schema.json",
            "module": f"synthetic_{number:05d}",
            "doc": f"Synthetic slot contracts {number} to {number + len(contracts) - 1}.",
            "imports": _IMPORTS,
            "interfaces": [interface for interface, _ in contracts],
            "builders": [builder for _, builder in contracts],
        }
        (folder / f"synthetic_{number:05d}.json").write_text(json.dumps(description, indent=2))
    return root
