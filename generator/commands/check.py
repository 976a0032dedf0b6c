"""`python -m generator check`: do the bundled descriptions still match megatron-core?

Compares schemas/megatron_core/*.json with the megatron-core installed in this environment (or,
with --megatron-root, a megatron/core source tree such as an unpacked wheel), read with `ast`
(nothing is imported), and reports drift per slot:

  submodules-added / -removed   a Submodules class upstream has that no description covers, or the
                                reverse (parent-missing: the described parent class is gone)
  slot-added / slot-removed     a field of a described Submodules class appeared or disappeared
  annotation / default / list   the field's annotation (upstream_typed, its Protocol), default or
                                list-ness changed
  now-passed / no-longer-passed the parent's call site(s) pass an argument the Builder lacks, or
                                no longer pass one it has (also: positional, construction,
                                conditional, no-call-site)
  implementation-signature      an implementation's constructor no longer accepts what its adapter
                                passes, or requires a parameter nobody passes
                                (implementation-missing: the class or function is gone)
  interface-method              an implementation lacks a method its Interface says the parent calls
  protocol-removed              an upstream Protocol a Builder/Interface is paired with is gone

Exit status: 0 in sync, 1 drift found, 2 bad input (descriptions invalid, no source tree).
"""

import argparse
import functools
from pathlib import Path

from rich.console import Console

from generator.errors import DescriptionErrors
from generator.pipeline import validated_catalog
from generator.upstream import source as src
from generator.validate import Catalog

from generator.commands import terminal
from generator.commands.drift import KINDS, Drift, call_sites, structure
from generator.commands.drift_signatures import implementations, interface_methods, protocols
from generator.commands.paths import ROOT, SCHEMAS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--megatron-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="a megatron/core source tree (or a folder holding megatron/core, e.g. an unpacked "
        "wheel) to compare with instead of the installed megatron-core",
    )
    parser.add_argument(
        "--schemas",
        type=Path,
        default=SCHEMAS,
        help="folder with slot.schema.json and megatron_core/",
    )
    terminal.add_json_option(parser)


def find_drift(catalog: Catalog) -> list[Drift]:
    """Every drift of the catalog against the source tree `source` currently reads."""
    found = {
        *structure(catalog),
        *call_sites(catalog),
        *implementations(catalog),
        *interface_methods(catalog),
        *protocols(catalog),
    }
    order = {kind: index for index, kind in enumerate(KINDS)}
    return sorted(found, key=lambda d: (d.slot, order[d.kind], d.detail))


@functools.cache
def load_catalog(schemas: Path) -> Catalog:
    """The validated descriptions (loaded once per folder in a process)."""
    return validated_catalog(schemas.resolve(), ROOT)


def check(schemas: Path, megatron_root: Path | None) -> list[Drift]:
    """Loads and validates the descriptions, then compares them with the source tree."""
    catalog = load_catalog(schemas.resolve())
    with src.reading(megatron_root):
        return find_drift(catalog)


def run(args: argparse.Namespace) -> int:
    err = terminal.stderr()
    root: Path | None = args.megatron_root
    if root is not None and src.find_core_dir(root) is None:
        err.print(f"error: {root}: no megatron/core source tree there", markup=False)
        return 2
    try:
        drift = check(args.schemas, root)
    except DescriptionErrors as errors:
        err.print(str(errors), markup=False)
        return 2
    except AssertionError as problem:  # megatron-core not installed
        err.print(f"error: {problem}", markup=False)
        return 2
    if args.json:
        terminal.print_json([d.as_json() for d in drift])
        return 1 if drift else 0
    with src.reading(root) as core:
        where = str(core)
    print_report(terminal.stdout(), drift, where)
    return 1 if drift else 0


def print_report(out: Console, drift: list[Drift], where: str) -> None:
    """The drift as a table grouped by slot, then a count per kind (or the in-sync line)."""
    if not drift:
        out.print(f"in sync: the descriptions match {where}", markup=False)
        return
    rows: list[tuple[str, str, str, str]] = []
    previous = None
    for item in drift:
        rows.append(
            (item.slot if item.slot != previous else "", item.kind, item.detail, item.where)
        )
        previous = item.slot
    out.print(terminal.table(f"drift against {where}", ("slot", "kind", "detail", "where"), rows))
    counts: dict[str, int] = {}
    for item in drift:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    summary = ", ".join(f"{kind} {counts[kind]}" for kind in KINDS if kind in counts)
    out.print(
        f"{len(drift)} differences in {len({d.slot for d in drift})} slots: {summary}",
        markup=False,
    )
