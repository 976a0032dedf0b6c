"""Calling a spec factory from the command line (`explain`, `conformance`): MODULE:FACTORY,
`--opt key=value` arguments, and a TransformerConfig from `--config FILE` or `--preset NAME`."""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast

PRESETS: dict[str, dict[str, object]] = {
    "gpt-dense": {
        "num_layers": 8,
        "hidden_size": 256,
        "num_attention_heads": 4,
        "ffn_hidden_size": 1024,
    },
    "gpt-moe": {
        "num_layers": 8,
        "hidden_size": 256,
        "num_attention_heads": 4,
        "ffn_hidden_size": 1024,
        "num_moe_experts": 16,
        "moe_ffn_hidden_size": 1024,
        "moe_router_topk": 2,
    },
    "gpt-moe-freq": {
        "num_layers": 8,
        "hidden_size": 256,
        "num_attention_heads": 4,
        "ffn_hidden_size": 1024,
        "num_moe_experts": 16,
        "moe_ffn_hidden_size": 1024,
        "moe_router_topk": 2,
        "moe_layer_freq": [1, 0, 0, 0, 0, 0, 0, 0],
    },
}
"""Tiny TransformerConfigs: dense, every layer MoE, and one MoE layer among dense ones (the
layout of upstream issue #6059)."""


class UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def add_factory_arguments(parser: argparse.ArgumentParser, *, config_required: bool) -> None:
    parser.add_argument(
        "factory",
        metavar="MODULE:FACTORY",
        help="e.g. generated.megatron_core.gpt_specs:get_gpt_layer_local_spec or"
        " megatron.core.models.gpt.gpt_layer_specs:get_gpt_decoder_block_spec",
    )
    parser.add_argument(
        "--opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an argument of the factory; VALUE is a Python literal (True, 8, None, 'x')"
        " or else a string",
    )
    group = parser.add_mutually_exclusive_group(required=config_required)
    group.add_argument(
        "--config", type=Path, help="JSON file of TransformerConfig fields (for a factory's config)"
    )
    group.add_argument(
        "--preset", choices=sorted(PRESETS), help="a built-in tiny TransformerConfig"
    )


def load_factory(text: str) -> Callable[..., object]:
    module_name, sep, name = text.partition(":")
    if not sep or not module_name or not name:
        raise UsageError(f"expected MODULE:FACTORY, got {text!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise UsageError(f"cannot import {module_name}: {error}") from error
    factory = cast(object, getattr(module, name, None))
    if not callable(factory):
        raise UsageError(f"{module_name} has no callable {name!r}")
    return factory


def parse_options(options: list[str]) -> dict[str, object]:
    parsed: dict[str, object] = {}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--opt expects KEY=VALUE, got {option!r}")
        try:
            parsed[key] = cast(object, ast.literal_eval(text))
        except (ValueError, SyntaxError):
            parsed[key] = text
    return parsed


def config_fields(args: argparse.Namespace) -> dict[str, object] | None:
    """The TransformerConfig fields asked for, or None when neither option is given."""
    preset = cast(str | None, args.preset)
    path = cast(Path | None, args.config)
    if preset is not None:
        return dict(PRESETS[preset])
    if path is None:
        return None
    try:
        data = cast(object, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {path}: {error}") from error
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object of TransformerConfig fields")
    return cast(dict[str, object], data)


def make_config(fields: Mapping[str, object]) -> object:
    from megatron.core.transformer.transformer_config import TransformerConfig

    values: dict[str, object] = {"use_cpu_initialization": True, **fields}
    build = cast(Callable[..., object], TransformerConfig)  # fields are checked by its __init__
    try:
        return build(**values)
    except (TypeError, ValueError, AssertionError) as error:
        raise UsageError(f"invalid TransformerConfig: {error}") from error


def call_factory(
    factory: Callable[..., object], options: Mapping[str, object], config: object | None
) -> object:
    """Calls the factory with the options, the config where it takes one, and pp_rank=0 where it
    takes a pipeline rank (so that no process group is needed: the first stage's layers)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    arguments = dict(options)
    if "config" in parameters and "config" not in arguments:
        if config is None:
            raise UsageError(f"{factory.__name__} takes a config: give --config FILE or --preset")
        arguments["config"] = config
    if "pp_rank" in parameters and arguments.get("pp_rank") is None:
        arguments["pp_rank"] = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return factory(**arguments)
    except TypeError as error:
        raise UsageError(f"calling {factory.__name__}: {error}") from error
