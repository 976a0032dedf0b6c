"""Binding check for `conformance`: the exact arguments each parent passes (the slot's Builder
parameters, after a generated adapter's mapping, with the spec's fixed arguments and its
submodules) bound with ``inspect.signature(...).bind`` against the implementation's real
signature, without building anything."""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from unittest import mock

from generator.model import MappingKind, ParameterKind
from generator.spec_tree import SpecNode
from generator.commands.spec_walk import WalkNode


@dataclass(frozen=True)
class BindingFailure:
    slot: str
    implementation: str
    error: str


class _Value:
    """A stand-in argument value (binding checks names and arity only)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _rewrapped_mlp(node: WalkNode, module: object) -> object:
    """TransformerLayer rewraps ``ModuleSpec(MLP | TEFusedMLP)`` in its mlp slot into
    ``partial(module.as_mlp_submodule, ...)`` (transformer_layer.py, "Rewrapping ModuleSpec")."""
    if node.slot == "mlp" and node.parent.endswith("TransformerLayer"):
        method = cast(object, getattr(module, "as_mlp_submodule", None))
        if method is not None:
            return method
    return module


def _call(
    node: WalkNode, *, with_conditional: bool
) -> tuple[object, list[object], dict[str, object]] | str:
    """(callable, positional, keywords) the parent's call amounts to, or why it is not checked."""
    from megatron.core.transformer.spec_utils import ModuleSpec

    builder = node.builder_model
    tree = node.tree
    if builder is None or not isinstance(tree, SpecNode):
        return "no described call site"
    if tree.implementation is None or isinstance(tree.implementation, mock.NonCallableMock):
        return "Transformer Engine is not installed"
    parameters = [p for p in builder.parameters if with_conditional or not p.conditionally_passed]
    positional: list[object] = []
    keywords: dict[str, object] = {}
    raw = node.raw
    if node.adapter_kind == "generated" and not isinstance(raw, ModuleSpec):
        adapter = node.adapter_model
        assert adapter is not None
        mappings = {m.parameter: m for m in adapter.implementation.mappings}
        for parameter in parameters:
            mapping = mappings.get(parameter.name)
            if mapping is None or mapping.kind is MappingKind.PASS:
                if parameter.kind is ParameterKind.POSITIONAL:
                    positional.append(_Value(parameter.name))
                else:
                    keywords[parameter.name] = _Value(parameter.name)
            elif mapping.kind in (MappingKind.RENAME, MappingKind.DERIVE):
                for argument, source in mapping.targets:
                    keywords[argument] = _Value(source)
        for name, _ in tree.arguments:
            keywords[name] = _Value(name)
        if tree.submodules_type is not None or tree.slots:
            argument = "submodules"
            if adapter.implementation.submodules is not None:
                argument = adapter.implementation.submodules.argument
            keywords[argument] = _Value("submodules")
        return tree.implementation, positional, keywords
    for parameter in parameters:
        if parameter.kind is ParameterKind.POSITIONAL:
            positional.append(_Value(parameter.name))
        else:
            keywords[parameter.name] = _Value(parameter.name)
    if isinstance(raw, ModuleSpec):
        module = cast(object, getattr(raw, "module"))
        if isinstance(module, tuple):
            path, name = cast(tuple[str, str], module)
            module = cast(object, getattr(importlib.import_module(path), name))
        if isinstance(module, types.FunctionType):
            return "a function build_module returns unbuilt"
        if builder.construction.value == "call":
            rewrapped = _rewrapped_mlp(node, module)
            if rewrapped is module:
                return module, [], {"<ModuleSpec called directly>": True}
            module = rewrapped
        for name in cast(dict[str, object], getattr(raw, "params") or {}):
            keywords[name] = _Value(name)
        if raw.submodules is not None:
            keywords["submodules"] = _Value("submodules")
        return module, positional, keywords
    if isinstance(raw, types.FunctionType) and builder.construction.value == "build_module":
        return "a function build_module returns unbuilt"
    if raw is None:
        return "not built"
    return raw, positional, keywords


def _bind(target: object, positional: list[object], keywords: dict[str, object]) -> str | None:
    if "<ModuleSpec called directly>" in keywords:
        return (
            "TypeError: 'ModuleSpec' object is not callable (the parent calls this slot directly)"
        )
    try:
        signature = inspect.signature(cast(Callable[..., object], target))
    except (TypeError, ValueError):
        return None  # no readable signature: nothing to check
    try:
        signature.bind(*positional, **keywords)
    except TypeError as error:
        return f"TypeError: {error}"
    return None


def check_bindings(root: WalkNode) -> tuple[list[BindingFailure], int]:
    """Binding failures in the tree, and how many slots were checked."""
    failures: list[BindingFailure] = []
    checked = 0
    for node in root.walk():
        conditional = node.builder_model is not None and any(
            p.conditionally_passed for p in node.builder_model.parameters
        )
        variants = (True, False) if conditional else (True,)
        errors: list[str] = []
        for with_conditional in variants:
            call = _call(node, with_conditional=with_conditional)
            if isinstance(call, str):
                break
            target, positional, keywords = call
            error = _bind(target, positional, keywords)
            if error is not None and error not in errors:
                suffix = "" if with_conditional else " (without the conditionally passed arguments)"
                errors.append(error + suffix)
        else:
            checked += 1
        failures.extend(BindingFailure(node.slot, node.implementation, e) for e in errors)
    return failures, checked
