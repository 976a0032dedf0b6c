"""Printing bench rows: a rich table on a terminal (plain text when piped), sorted JSON, or a
Markdown table for the README."""

from collections.abc import Sequence

from rich.table import Table

from bench.rows import BenchRow
from generator.commands.terminal import print_json, stdout, table

COLUMNS = ("measurement", "measured", "floor", "floor time", "ratio", "goal", "met", "detail")


def seconds(value: float) -> str:
    """`0.0000123` -> `12.3 µs`, `0.0456` -> `45.6 ms`, `1.5` -> `1.5 s` (three digits)."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def cells(row: BenchRow) -> tuple[str, ...]:
    """One line: times in readable units, the ratio to three decimals."""
    return (
        row.name,
        seconds(row.measured_s),
        row.floor_name,
        seconds(row.floor_s),
        f"{row.ratio:.3f}",
        f"≤ {row.goal:g}",
        "yes" if row.met else "NO",
        row.detail,
    )


def rows_table(title: str, rows: Sequence[BenchRow]) -> Table:
    return table(title, COLUMNS, (cells(row) for row in rows))


def markdown_table(rows: Sequence[BenchRow]) -> str:
    """The rows as a GitHub Markdown table (`|` in a cell escaped)."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells(row)) + " |")
    return "\n".join(lines)


def row_json(row: BenchRow) -> dict[str, object]:
    """Every field, with the derived `ratio` and `met`."""
    return {
        "name": row.name,
        "measured_s": row.measured_s,
        "floor_name": row.floor_name,
        "floor_s": row.floor_s,
        "goal": row.goal,
        "paired_ratio": row.paired_ratio,
        "ratio": row.ratio,
        "met": row.met,
        "detail": row.detail,
    }


def print_rows(title: str, rows: Sequence[BenchRow], *, output: str = "table") -> None:
    """`output`: "table" (rich), "json" or "markdown"."""
    if output == "json":
        print_json([row_json(row) for row in rows])
    elif output == "markdown":
        print(markdown_table(rows))
    else:
        stdout().print(rows_table(title, rows))
