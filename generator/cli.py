"""Command line: `python -m generator COMMAND`; each command is a module of generator.commands
with `configure(parser)` and `run(args) -> exit status`, imported only when it runs (so that
`generate` with nothing to do does not pay for the other commands' imports)."""

import argparse
import importlib
import os
import sys
from typing import Protocol, cast

# name -> one-line help; the module is generator.commands.<name>.
COMMANDS = {
    "generate": "generate generated/ from schemas/, or your own descriptions into your package",
    "slots": "list every upstream slot of megatron-core: its Builder, implementations, flags",
    "dump": "print the validated descriptions as JSON, for debugging",
    "check": "report drift between the descriptions and megatron-core's source (exit 1 on drift)",
    "infer": "draft a slot description (JSON) from a parent class's source",
    "breaking": "classify the description changes since a git ref (breaking for callers/implementers)",
    "explain": "show the module tree a spec builds and where every argument comes from",
    "conformance": "bind each parent's arguments against each implementation and find ignored config fields",
}


class Command(Protocol):
    """What a module of generator.commands provides."""

    __doc__: str | None

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def command(name: str) -> Command:
    # A module object is not assignable to a Protocol for pyright; every module of
    # generator.commands has the two functions (tests/test_cli.py runs each one's --help).
    return cast(Command, importlib.import_module(f"generator.commands.{name}"))


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Typed layer specs for Megatron-Core: generate them, list the slots they type.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    chosen = next((a for a in arguments if not a.startswith("-")), None)
    for name, help_text in COMMANDS.items():
        if name == chosen:
            module = command(name)
            module.configure(
                subparsers.add_parser(name, help=help_text, description=module.__doc__)
            )
        else:
            subparsers.add_parser(name, help=help_text)
    args = parser.parse_args(arguments)
    try:
        return command(args.command).run(args)
    except BrokenPipeError:
        # The reader stopped early (`... | head`): not an error of ours, and no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
