"""Command line: `python -m generator COMMAND`; each command is a module of generator.commands
with NAME, HELP, `configure(parser)` and `run(args) -> exit status`."""

import argparse
import os
import sys
from collections.abc import Callable

from generator.commands import (
    breaking,
    check,
    conformance,
    dump,
    explain,
    generate,
    infer,
    slots,
)

COMMANDS = (generate, slots, dump, check, infer, breaking, explain, conformance)


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
    try:
        return runs[args.command](args)
    except BrokenPipeError:
        # The reader stopped early (`... | head`): not an error of ours, and no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
