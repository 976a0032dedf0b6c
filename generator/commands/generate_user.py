"""`generate --schemas DIR ... --out PACKAGE_DIR`: your own descriptions -> your package.

The bundled descriptions are validated with yours (every cross-file check covers both), but only
your package is generated: generated/, README.md and the no-op stamp of the bundled run are not
touched. Formatted modules are cached as in the bundled run.
"""

import argparse
import importlib.util
import shlex
import sys
import time
from pathlib import Path

from generator.cache import CACHE_DIR, TextCache
from generator.errors import DescriptionErrors
from generator.output import compare, write_atomically
from generator.pipeline import generate_user_output

from generator.commands.generate_full import pyright_stage, report_check
from generator.commands.paths import ROOT
from generator.commands.user_output import UsageError, user_target


def generate_user(args: argparse.Namespace, root: Path, started: float) -> int:
    """Exit status: 0 written or up to date, 1 invalid descriptions (pyright's errors in the new
    code included) or (--check) out of date, 2 a bad --schemas, --out or --package, or no
    pyright to check the new code with."""
    try:
        if args.package is not None and args.out is None:
            raise UsageError("--package needs --out", "add --out PACKAGE_DIR")
        target = user_target(args.schemas or [], args.out, args.package, root)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Your descriptions import your own classes; they resolve from the folder your package is
    # imported from, as they will when it runs.
    if str(target.import_root) not in sys.path:
        sys.path.insert(0, str(target.import_root))
    shown = f"{target.owned.as_posix()}/" if target.base == root else f"{target.out}/"
    formatted = None if args.no_cache else TextCache(root / CACHE_DIR / "formatted")
    try:
        output = generate_user_output(root / "schemas", root, target.descriptions, formatted)
    except DescriptionErrors as errors:
        return _rejected(errors, shown)
    files = {target.owned / path: text for path, text in output.files.items()}
    made = (
        f"{formatted.misses} of {len(files)} files rendered" if formatted else f"{len(files)} files"
    )
    drift = compare(target.base, files, target.owned)
    if args.check:
        return report_check(drift, shown, made, f"`{_command(args)}`")
    package = target.descriptions.package
    if drift.clean:
        seconds = time.perf_counter() - started
        print(f"{shown} (package {package}) already up to date ({made}, {seconds:.2f} s).")
        return 0
    if not args.no_typecheck:
        # The bundled package and the user's own modules are imported from where they are.
        imported_from = (_bundled_import_root(root), target.import_root)
        problems = pyright_stage(
            files,
            target.base,
            target.owned.as_posix(),
            output.origins,
            "install pyright in this environment",
            imported_from,
        )
        if problems is None:
            return 2
        if problems:
            return _rejected(DescriptionErrors(problems), shown)
    write_atomically(target.base, files, target.owned)
    changed = len(drift.stale) + len(drift.missing) + len(drift.orphaned)
    seconds = time.perf_counter() - started
    print(f"wrote {shown} (package {package}; {made}, {changed} changed, {seconds:.2f} s).")
    return 0


def _bundled_import_root(root: Path) -> Path:
    """Where `generated.megatron_core` is imported from: the root when it holds generated/, else
    wherever Python finds the package."""
    if (root / "generated" / "__init__.py").is_file():
        return root
    spec = importlib.util.find_spec("generated")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).parent
    return root


def _rejected(errors: DescriptionErrors, shown: str) -> int:
    print(errors, file=sys.stderr)
    print(f"{len(errors.errors)} error(s); {shown} was not changed.", file=sys.stderr)
    return 1


def _command(args: argparse.Namespace) -> str:
    """The command that regenerates the user's package, as it was given."""
    words = ["python", "-m", "generator", "generate"]
    for folder in args.schemas:
        words += ["--schemas", str(folder)]
    words += ["--out", str(args.out)]
    if args.package is not None:
        words += ["--package", args.package]
    if args.root != ROOT:
        words += ["--root", str(args.root)]
    return shlex.join(words)
