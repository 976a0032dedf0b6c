"""`python -m generator breaking --against REF`: what changed in the descriptions since a git ref,
classified like `buf breaking` (rules listed below, by stable ID).

Both versions go through load -> model -> validate (the ref's with the ref's schema), then every
Builder, Interface, adapter, parent slot, spec factory and value is compared by name.

Exit status: 0 no breaking change (or all ignored), 1 a breaking change not ignored, 2 bad input
(unknown ref, not a git repository, invalid descriptions, unknown rule ID).

Ignore rules in pyproject.toml, `[tool.generator.breaking] ignore = ["RULE_ID", ...]`, or with
`--ignore RULE_ID` (repeatable)."""

import argparse
import hashlib
import tempfile
import tomllib
from pathlib import Path
from typing import Any, cast

from generator.errors import DescriptionErrors
from generator.load import SCHEMA_FILE
from generator.pipeline import validated_catalog
from generator.validate import Catalog

from generator.commands import terminal
from generator.commands.breaking_compare import Change, compare
from generator.commands.breaking_git import GitError, extract, toplevel
from generator.commands.breaking_rules import RULES, rules_help
from generator.commands.paths import ROOT


class InputError(Exception):
    """Bad input (exit 2); the message says what to do."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "rules:\n" + rules_help()
    parser.add_argument(
        "--against", metavar="REF", help="git ref to compare with (branch, tag, commit)"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="project root (a git work tree, holds pyproject.toml)",
    )
    parser.add_argument(
        "--schemas",
        type=Path,
        default=None,
        help="folder with slot.schema.json and megatron_core/ (default: ROOT/schemas)",
    )
    parser.add_argument(
        "--ignore",
        metavar="RULE",
        action="append",
        default=[],
        help="do not fail on this rule (repeatable); adds to pyproject.toml's ignore list",
    )
    parser.add_argument("--list-rules", action="store_true", help="print the rules and exit")
    terminal.add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    if args.list_rules:
        return _list_rules(args.json)
    err = terminal.stderr()
    try:
        if args.against is None:
            raise InputError("give the git ref to compare with: --against REF")
        root: Path = args.root.resolve()
        schemas: Path = (args.schemas or root / "schemas").resolve()
        ignored = _ignored(root, args.ignore)
        top = toplevel(root)
        with tempfile.TemporaryDirectory(prefix="breaking-") as temporary:
            old_schemas = extract(root, args.against, schemas, Path(temporary))
            old = _catalog(old_schemas, Path(temporary), f"at {args.against}")
            new = _catalog(schemas, top, "in the working tree")
    except (GitError, InputError) as error:
        err.print(f"error: {error}", markup=False)
        return 2
    changes = compare(old, new)
    failing = [c for c in changes if RULES[c.rule].category.breaking and c.rule not in ignored]
    if args.json:
        terminal.print_json(
            {
                "against": args.against,
                "breaking": len(failing),
                "changes": [_json(change, ignored) for change in changes],
            }
        )
    else:
        _print_table(args.against, changes, ignored, len(failing))
    return 1 if failing else 0


def _list_rules(as_json: bool) -> int:
    if as_json:
        terminal.print_json(
            [
                {"rule": r.id, "category": r.category.value, "summary": r.summary}
                for r in RULES.values()
            ]
        )
        return 0
    rows = [(r.id, r.category.value, r.summary) for r in RULES.values()]
    terminal.stdout().print(terminal.table("breaking rules", ("rule", "category", "meaning"), rows))
    return 0


def _ignored(root: Path, extra: list[str]) -> frozenset[str]:
    """Rule IDs from `[tool.generator.breaking] ignore` in pyproject.toml and `--ignore`."""
    names: list[str] = list(extra)
    path = root / "pyproject.toml"
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise InputError(f"{path}: {error}") from None
        section: object = data.get("tool", {}).get("generator", {}).get("breaking", {})
        listed: object = (
            cast(dict[str, Any], section).get("ignore", []) if isinstance(section, dict) else None
        )
        if not isinstance(listed, list) or not all(
            isinstance(n, str) for n in cast(list[Any], listed)
        ):
            raise InputError(f"{path}: [tool.generator.breaking] ignore must be a list of rule IDs")
        names.extend(cast(list[str], listed))
    unknown = sorted(set(names) - set(RULES))
    if unknown:
        raise InputError(f"unknown rule ID(s) to ignore: {', '.join(unknown)} (see --list-rules)")
    return frozenset(names)


_CATALOGS: dict[str, Catalog] = {}  # by content: a ref's unchanged descriptions load once


def _catalog(schemas: Path, root: Path, version: str) -> Catalog:
    """The validated catalog of the descriptions under `schemas` (file names relative to
    `root`); invalid descriptions are bad input."""
    digest = hashlib.sha256(
        str(schemas.relative_to(root) if schemas.is_relative_to(root) else schemas).encode()
    )
    for path in [schemas / SCHEMA_FILE, *sorted((schemas / "megatron_core").rglob("*.json"))]:
        if path.is_file():
            digest.update(path.relative_to(schemas).as_posix().encode() + b"\0" + path.read_bytes())
    key = digest.hexdigest()
    if key not in _CATALOGS:
        try:
            _CATALOGS[key] = validated_catalog(schemas, root)
        except DescriptionErrors as errors:
            raise InputError(f"the descriptions {version} are invalid:\n{errors}") from None
        except OSError as error:
            raise InputError(f"cannot read the descriptions {version}: {error}") from None
    return _CATALOGS[key]


def _where(change: Change, against: str) -> str:
    where = f"{change.file}#{change.pointer}"
    return f"{where} (at {against})" if change.old else where


def _json(change: Change, ignored: frozenset[str]) -> dict[str, object]:
    category = RULES[change.rule].category
    return {
        "rule": change.rule,
        "category": category.value,
        "breaking": category.breaking,
        "ignored": change.rule in ignored,
        "file": change.file,
        "pointer": change.pointer,
        "version": "ref" if change.old else "working tree",
        "detail": change.detail,
    }


def _print_table(
    against: str, changes: list[Change], ignored: frozenset[str], failing: int
) -> None:
    out = terminal.stdout()
    if not changes:
        out.print(f"no changes to the descriptions since {against}.", markup=False)
        return
    rows: list[tuple[str, str, str, str]] = []
    for change in changes:
        category = RULES[change.rule].category.value
        if change.rule in ignored:
            category += " (ignored)"
        rows.append((change.rule, category, _where(change, against), change.detail))
    title = f"changes since {against}"
    out.print(terminal.table(title, ("rule", "category", "where", "detail"), rows))
    breaking = sum(RULES[c.rule].category.breaking for c in changes)
    out.print(
        f"{len(changes)} change(s): {breaking} breaking ({breaking - failing} ignored), "
        f"{len(changes) - breaking} compatible.",
        markup=False,
    )
