"""`python -m generator explain MODULE:FACTORY`: the module tree a spec builds, slot by slot
(slot -> implementation -> adapter), and where every argument each implementation receives
comes from: the parent's call site, fixed by the spec, derived (tp_group <- pg_collection.tp),
renamed, or dropped.

Exit status: 0 printed; 2 usage or input error (a factory that cannot be imported or called,
an unreadable config, `dot` missing for --out .svg/.png).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

from rich.markup import escape
from rich.tree import Tree as RichTree

from generator.commands import terminal
from generator.commands.explain_dot import DotError, to_dot, write_picture
from generator.commands.factory import (
    UsageError,
    add_factory_arguments,
    call_factory,
    config_fields,
    load_factory,
    make_config,
    parse_options,
)
from generator.commands.spec_walk import Origin, WalkNode, Walker, load_catalog
from generator.errors import DescriptionErrors

_STYLES = {
    "call site": "green",
    "fixed": "cyan",
    "derived": "magenta",
    "renamed": "yellow",
    "dropped": "red",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_factory_arguments(parser, config_required=False)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="also draw the tree: FILE.dot (Graphviz text), FILE.svg or FILE.png (runs `dot`)",
    )
    terminal.add_json_option(parser)


def explain(factory_text: str, options: list[str], fields: dict[str, object] | None) -> WalkNode:
    """The walked tree of MODULE:FACTORY called with the options (raises UsageError)."""
    factory = load_factory(factory_text)
    config = make_config(fields) if fields is not None else None
    value = call_factory(factory, parse_options(options), config)
    return Walker(load_catalog()).walk(value)


def run(args: argparse.Namespace) -> int:
    """Prints the tree (rich on a terminal, plain when piped, JSON with --json)."""
    try:
        root = explain(cast(str, args.factory), cast(list[str], args.opt), config_fields(args))
        out = cast(Path | None, args.out)
        if out is not None:
            write_picture(to_dot(root, title=cast(str, args.factory)), out)
    except (UsageError, DotError) as error:
        terminal.stderr().print(f"error: {escape(str(error))}")
        return 2
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        return 2
    if args.json:
        terminal.print_json(to_json(root))
        return 0
    console = terminal.stdout()
    if console.is_terminal:
        console.print(rich_tree(root))
    else:
        sys.stdout.write("\n".join(plain_lines(root)) + "\n")
    return 0


def head(node: WalkNode) -> str:
    """`slot: Implementation  [adapter]`."""
    text = f"{node.slot}: {node.implementation}"
    if node.adapter:
        text += (
            f"  [{node.adapter}]"
            if node.adapter_kind == "generated"
            else (f"  [described by {node.adapter}]")
        )
    if node.builder:
        text += f"  ({node.builder})"
    return text


def origin_text(origin: Origin) -> str:
    arrow = {"call site": "<-", "fixed": "=", "derived": "<-", "renamed": "<-", "dropped": "x"}
    text = f"{origin.name} {arrow.get(origin.kind, ':')} {origin.kind}: {origin.detail}"
    return text + (" (conditionally)" if origin.conditional else "")


def plain_lines(node: WalkNode, depth: int = 0) -> list[str]:
    indent = "  " * depth
    lines = [indent + head(node)]
    lines.extend(f"{indent}    . {origin_text(origin)}" for origin in node.origins)
    for child in node.children:
        lines.extend(plain_lines(child, depth + 1))
    return lines


def rich_tree(node: WalkNode, tree: RichTree | None = None) -> RichTree:
    label = f"[bold]{escape(node.slot)}[/]: [blue]{escape(node.implementation)}[/]"
    if node.adapter:
        label += f"  [dim]\\[{escape(node.adapter)}][/]"
    if node.builder:
        label += f"  [dim]({escape(node.builder)})[/]"
    branch = RichTree(label) if tree is None else tree.add(label)
    for origin in node.origins:
        style = _STYLES.get(origin.kind, "white")
        branch.add(f"[{style}]{escape(origin_text(origin))}[/]")
    for child in node.children:
        rich_tree(child, branch)
    return branch


def to_json(node: WalkNode) -> dict[str, object]:
    return {
        "slot": node.slot,
        "implementation": node.implementation,
        "adapter": node.adapter or None,
        "adapter_kind": node.adapter_kind or None,
        "builder": node.builder or None,
        "construction": node.construction or None,
        "parent": node.parent,
        "arguments": [
            {
                "name": origin.name,
                "origin": origin.kind,
                "detail": origin.detail,
                "conditional": origin.conditional,
            }
            for origin in node.origins
        ],
        "children": [to_json(child) for child in node.children],
    }
