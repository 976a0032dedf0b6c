"""`python -m generator infer PARENT`: draft a slot description from a parent class's source.

PARENT is a dotted class path under megatron.core (e.g. megatron.core.transformer.mlp.MLP).
The draft is read from the installed megatron-core's source with `ast` (nothing is imported but
torch.nn): the Submodules fields (names, defaults, list-ness, upstream_typed), every call that
builds a slot (construction, arguments, which only under a condition, types where an upstream
Builder Protocol or a forwarded __init__ parameter annotates them), and the methods the parent
calls on each built module. Placeholders (docs "TODO: ...", type "TODO") validate against
schemas/slot.schema.json; the list of what a person must still add, and the modules the
parent's __init__ constructs itself (lifted-slot candidates), go to stderr (and --todo FILE).

Exit status: 0 the draft was written; 2 unknown class, or not a parent with a Submodules
dataclass (or bad usage); 1 the draft does not validate against the schema (a bug).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from generator.commands.schema_check import schema_errors

from generator.commands import terminal
from generator.commands.draft import Draft, InferError, draft
from generator.commands.paths import SCHEMAS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "parent", metavar="PARENT", help="dotted class path, e.g. megatron.core.transformer.mlp.MLP"
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="write the description here instead of stdout"
    )
    parser.add_argument(
        "--todo",
        type=Path,
        help="also write the to-do list and lifted-slot candidates as JSON here",
    )
    parser.add_argument("--schemas", type=Path, default=SCHEMAS, help=argparse.SUPPRESS)
    terminal.add_json_option(parser)
    parser.epilog = (
        "output: the description on stdout (or -o FILE); with --json, stdout holds "
        "{description, todo, lifted_candidates} instead. The to-do list goes to stderr.\n"
        "exit status: 0 draft written; 1 the draft fails the schema (a bug); "
        "2 unknown class or not a parent with a Submodules dataclass"
    )


def report(result: Draft) -> dict[str, Any]:
    """The to-do list and lifted-slot candidates, for tools."""
    return {
        "todo": result.todo,
        "lifted_candidates": [
            {"where": where, "class": c.callee, "attribute": c.attribute}
            for where, c in result.lifted
        ],
    }


def run(args: argparse.Namespace) -> int:
    err = terminal.stderr()
    try:
        result = draft(args.parent)
    except InferError as error:
        err.print(f"error: {error}", markup=False)
        return 2
    problems = schema_errors(args.schemas.resolve(), result.description)
    if problems:
        for problem in problems:
            err.print(f"draft: schema violation at {problem}", markup=False)
        return 1
    text = json.dumps(result.description, indent=2) + "\n"
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    if args.todo is not None:
        args.todo.write_text(json.dumps(report(result), indent=2) + "\n", encoding="utf-8")
    if args.json:
        terminal.print_json({"description": result.description, **report(result)})
    elif args.output is None:
        sys.stdout.write(text)
    _summary(result, err)
    return 0


def _summary(result: Draft, err: Console) -> None:
    parent = result.description["parent"]
    builders = {b["name"]: b for b in result.description["builders"]}
    rows = [
        [
            slot["name"],
            slot["builder"],
            builders[slot["builder"]]["construction"],
            str(len(builders[slot["builder"]]["parameters"])),
            slot.get("default", "-"),
        ]
        for slot in parent["slots"]
    ]
    err.print(
        terminal.table(
            f"{parent['class']} ({parent['submodules']}): {len(rows)} slots",
            ["slot", "builder", "construction", "parameters", "default"],
            rows,
        )
    )
    err.print(
        terminal.table(
            f"to do ({len(result.todo)})",
            ["#", "what a person must still add"],
            [[str(i), item] for i, item in enumerate(result.todo, 1)],
        )
    )
    if result.lifted:
        err.print(
            terminal.table(
                "lifted-slot candidates (constructed in __init__, bypassing the spec)",
                ["where", "class", "kept as"],
                [
                    [w, c.callee, f"self.{c.attribute}" if c.attribute else "-"]
                    for w, c in result.lifted
                ],
            )
        )
