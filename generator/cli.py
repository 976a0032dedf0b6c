"""Command line: `python -m generator COMMAND`; each command is a module of generator.commands
with NAME, HELP, `configure(parser)` and `run(args) -> exit status`."""

import argparse
from collections.abc import Callable

from generator.commands import check, dump, generate, slots

COMMANDS = (generate, slots, dump, check)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Typed layer specs for Megatron-Core: generate them, list the slots they type.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    runs: dict[str, Callable[[argparse.Namespace], int]] = {}
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, help=command.HELP, description=command.__doc__)
        command.configure(sub)
        runs[command.NAME] = command.run
    args = parser.parse_args(argv)
    return runs[args.command](args)
