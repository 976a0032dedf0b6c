"""Graphviz output for `explain`: DOT text, and SVG/PNG through the `dot` program."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from generator.commands.spec_walk import WalkNode

_COLOURS = {
    "call site": "#1a7f37",
    "fixed": "#0969da",
    "derived": "#8250df",
    "renamed": "#9a6700",
    "dropped": "#cf222e",
}


class DotError(Exception):
    """The picture cannot be drawn (exit status 2)."""


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _label(node: WalkNode) -> str:
    rows = [
        f'<TR><TD ALIGN="LEFT"><B>{_html(node.slot)}</B></TD></TR>',
        f'<TR><TD ALIGN="LEFT">{_html(node.implementation)}</TD></TR>',
    ]
    if node.adapter:
        prefix = "" if node.adapter_kind == "generated" else "described by "
        rows.append(
            f'<TR><TD ALIGN="LEFT"><FONT COLOR="#57606a">{_html(prefix + node.adapter)}</FONT>'
            "</TD></TR>"
        )
    for origin in node.origins:
        arrow = "=" if origin.kind == "fixed" else ("x" if origin.kind == "dropped" else "&lt;-")
        detail = _html(origin.detail) + (" (conditionally)" if origin.conditional else "")
        colour = _COLOURS.get(origin.kind, "#000000")
        rows.append(
            f'<TR><TD ALIGN="LEFT"><FONT COLOR="{colour}" POINT-SIZE="10">'
            f"{_html(origin.name)} {arrow} {_html(origin.kind)}: {detail}</FONT></TD></TR>"
        )
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0">' + "".join(rows) + "</TABLE>>"


def to_dot(root: WalkNode, title: str = "") -> str:
    """The tree as a DOT digraph: one box per slot with its arguments, an edge per sub-slot."""
    lines = [
        "digraph explain {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=11];',
        '  edge [color="#57606a"];',
    ]
    if title:
        lines.append(f'  label="{title.replace(chr(34), chr(39))}"; labelloc=t;')
    counter = 0

    def visit(node: WalkNode) -> str:
        nonlocal counter
        name = f"n{counter}"
        counter += 1
        lines.append(f"  {name} [label={_label(node)}];")
        for child in node.children:
            lines.append(f"  {name} -> {visit(child)};")
        return name

    visit(root)
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_picture(dot_text: str, out: Path) -> None:
    """Writes DOT text (.dot/.gv) or runs `dot` for .svg/.png."""
    suffix = out.suffix.lower()
    if suffix in (".dot", ".gv"):
        out.write_text(dot_text, encoding="utf-8")
        return
    if suffix not in (".svg", ".png"):
        raise DotError(f"--out {out}: expected a .dot, .svg or .png file")
    program = shutil.which("dot")
    if program is None:
        raise DotError(
            f"--out {out} needs Graphviz's `dot` program, which is not installed"
            " (apt-get install graphviz); --out FILE.dot works without it"
        )
    result = subprocess.run(
        [program, f"-T{suffix[1:]}", "-o", str(out)],
        input=dot_text,
        text=True,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise DotError(f"dot failed ({result.returncode}): {result.stderr.strip()}")
