"""Terminal output shared by the commands: rich tables and colour on a terminal, plain text when
piped (rich decides from the stream), and JSON for tools with `--json`."""

import argparse
import json
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of tables"
    )


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    """A table with a header row; cells are plain text (markup in them is not interpreted)."""
    grid = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(escape(cell) for cell in row))
    return grid


def print_json(data: object) -> None:
    """JSON on stdout, keys sorted, so that tools and tests can diff it."""
    print(json.dumps(data, indent=2, sort_keys=True))
