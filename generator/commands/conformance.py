"""`python -m generator conformance MODULE:FACTORY --config FILE|--preset NAME`: before any GPU
run, check a spec against a TransformerConfig without building the model.

1. Binding: the exact arguments each parent passes to each slot (the slot's Builder, after a
   generated adapter's mapping, plus the spec's fixed arguments and submodules) are bound with
   inspect.signature(...).bind against each implementation's real signature.
2. Ignored config fields: fields the chosen spec silently ignores, e.g. moe_layer_freq with a
   single MoE layer spec (upstream issue #6059: every layer becomes MoE), num_moe_experts with a
   dense spec, qk_layernorm against the spec's q/k norm slots, normalization against a fixed
   norm class.

The factory gets the config where it takes one (and pp_rank=0: the first pipeline stage).
Exit status: 0 conforms; 1 findings; 2 usage or input error.
"""

from __future__ import annotations

import argparse
import sys
from typing import cast

from rich.markup import escape

from generator.commands import terminal
from generator.commands.binding import check_bindings
from generator.commands.factory import (
    UsageError,
    add_factory_arguments,
    call_factory,
    config_fields,
    load_factory,
    make_config,
    parse_options,
)
from generator.commands.ignored_fields import find_ignored
from generator.commands.spec_walk import Walker, load_catalog
from generator.errors import DescriptionErrors


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_factory_arguments(parser, config_required=True)
    terminal.add_json_option(parser)


def conformance(
    factory_text: str, options: list[str], fields: dict[str, object]
) -> dict[str, object]:
    """The report as data (raises UsageError)."""
    factory = load_factory(factory_text)
    config = make_config(fields)
    value = call_factory(factory, parse_options(options), config)
    root = Walker(load_catalog()).walk(value)
    failures, checked = check_bindings(root)
    findings = find_ignored(root, config)
    return {
        "factory": factory_text,
        "slots_checked": checked,
        "binding_failures": [
            {"slot": f.slot, "implementation": f.implementation, "error": f.error} for f in failures
        ],
        "ignored_config_fields": [
            {"field": finding.field, "message": finding.message} for finding in findings
        ],
    }


def run(args: argparse.Namespace) -> int:
    try:
        fields = config_fields(args)
        assert fields is not None  # argparse requires --config or --preset
        report = conformance(cast(str, args.factory), cast(list[str], args.opt), fields)
    except UsageError as error:
        terminal.stderr().print(f"error: {escape(str(error))}")
        return 2
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        return 2
    failures = cast(list[dict[str, str]], report["binding_failures"])
    ignored = cast(list[dict[str, str]], report["ignored_config_fields"])
    status = 1 if failures or ignored else 0
    if args.json:
        terminal.print_json(report)
        return status
    console = terminal.stdout()
    console.print(f"{report['factory']}: {report['slots_checked']} slot(s) bound")
    if failures:
        console.print(
            terminal.table(
                "Binding failures",
                ("slot", "implementation", "error"),
                [(f["slot"], f["implementation"], f["error"]) for f in failures],
            )
        )
    if ignored:
        console.print(
            terminal.table(
                "Config fields the spec ignores",
                ("field", "consequence"),
                [(f["field"], f["message"]) for f in ignored],
            )
        )
    if not status:
        console.print("conforms: every binding succeeds and no config field is ignored")
    return status
