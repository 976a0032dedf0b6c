"""The generator's costs, each against its floor, in runs interleaved in one bench process:

- full regeneration (`generate --no-cache --no-typecheck` into an empty generated/) against
  importing the stages' dependencies and formatting the same output with black alone;
- the same with generate's pyright stage, against the same without it plus pyright alone;
- a no-op regeneration against importing those dependencies, and that it writes nothing;
- one description changed, against a full regeneration, with how many files it re-rendered;
- the pyright gate (`python -m pyright`, as CI runs it) against pyright's own CLI on the same files;
- scaling: full regeneration of synthetic sets of 1x, 10x and 100x the bundled slot count, and
  the exponent of time against size fitted over them.
"""

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyright

from bench.rows import BenchRow
from bench.synthetic import write_project
from generator.typecheck import strict_config

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_SLOTS = 75
# Every command runs with Python's bytecode cache, as an installed tool does: pip wrote the
# dependencies' .pyc files, and each row's warm-up run writes the generator's own (a shell with
# PYTHONDONTWRITEBYTECODE set would otherwise recompile the generator on every run).
_ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_DEPENDENCIES = "import black, jinja2, jsonschema, jsonschema_rs"
_EDITED = Path("schemas") / "megatron_core" / "bias_dropout_add.json"


def _seconds(command: list[str], cwd: Path = ROOT) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=_ENVIRONMENT)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return elapsed


def _generate(root: Path, *options: str) -> list[str]:
    # The bundled descriptions are read from --root's schemas/.
    return [sys.executable, "-m", "generator", "generate", *options, "--root", str(root)]


def _interleaved(
    first: Callable[[], float], second: Callable[[], float], repeats: int
) -> tuple[float, float]:
    """Medians of `repeats` runs of each, alternating which goes first."""
    a: list[float] = []
    b: list[float] = []
    for round_ in range(repeats):
        if round_ % 2:
            b.append(second())
            a.append(first())
        else:
            a.append(first())
            b.append(second())
    return statistics.median(a), statistics.median(b)


def _project(target: Path) -> Path:
    shutil.copytree(ROOT / "schemas", target / "schemas")
    shutil.copyfile(ROOT / "README.md", target / "README.md")
    return target


def _full_regeneration(root: Path, *, typecheck: bool = False) -> float:
    """`generate --no-cache` into an empty generated/; without the pyright stage unless
    `typecheck` (every module is new code then: the stage has its own row)."""
    shutil.rmtree(root / "generated", ignore_errors=True)
    options = ["--no-cache"] if typecheck else ["--no-cache", "--no-typecheck"]
    return _seconds(_generate(root, *options))


def _pyright_alone(root: Path) -> float:
    """pyright strict on root's generated/, as generate's stage configures it."""
    config = strict_config(include=["generated"])
    (root / "pyrightconfig.json").write_text(json.dumps(config))
    return _checked([sys.executable, "-m", "pyright"], cwd=root)


def typecheck_row(work: Path, repeats: int) -> BenchRow:
    """A full regeneration with the pyright stage (all code new) against one without it plus
    pyright alone on the same output: what the stage adds beyond pyright's own time."""
    root = _project(work / "typecheck")
    _full_regeneration(root, typecheck=True)  # warms pyright's and the file system's caches
    measured, floor = _interleaved(
        lambda: _full_regeneration(root, typecheck=True),
        lambda: _full_regeneration(root) + _pyright_alone(root),
        repeats,
    )
    return BenchRow("full regeneration with the pyright stage", measured,
                    "the same without it + pyright alone", floor, 1.1,
                    "every module new code (an empty generated/)")  # fmt: skip


def _mtimes(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (root / "generated").rglob("*") if p.is_file()}


def regeneration_rows(work: Path, repeats: int) -> list[BenchRow]:
    root = _project(work / "project")
    _full_regeneration(root)  # warms the file system cache for both sides
    floor_command = [sys.executable, "-m", "bench.black_floor", str(root / "generated")]
    full, black_floor = _interleaved(
        lambda: _full_regeneration(root), lambda: _seconds(floor_command), repeats
    )
    files = len(list((root / "generated").rglob("*.py")))
    rows = [
        BenchRow("full regeneration (no cache)", full, "imports + black alone", black_floor, 1.5,
                 f"{files} files, bundled set ({BUNDLED_SLOTS} slots)"),
    ]  # fmt: skip

    _seconds(_generate(root))  # records the stamp and fills the cache of formatted modules
    before = _mtimes(root)
    noop, import_floor = _interleaved(
        lambda: _seconds(_generate(root)),
        lambda: _seconds([sys.executable, "-c", _DEPENDENCIES]),
        repeats,
    )
    wrote = "wrote nothing" if _mtimes(root) == before else "WROTE FILES"
    rows.append(
        BenchRow("no-op regeneration", noop, "importing the dependencies", import_floor, 1.3, wrote)
    )

    edited = root / _EDITED
    original = edited.read_text()
    variants = [original.replace('"doc": "', f'"doc": "Edit {n}. ', 1) for n in range(repeats)]
    changed: list[float] = []
    rendered = ""
    for variant in variants:
        edited.write_text(variant)
        started = time.perf_counter()
        result = subprocess.run(
            _generate(root), cwd=ROOT, capture_output=True, text=True, env=_ENVIRONMENT
        )
        changed.append(time.perf_counter() - started)
        rendered = result.stdout.split("(", 1)[-1].split(",", 1)[0]  # "7 of 28 files rendered"
    edited.write_text(original)
    rows.append(BenchRow("one description changed", statistics.median(changed),
                         "full regeneration", full, 1.0, f"{rendered} (bias_dropout_add.json)"))  # fmt: skip
    return rows


def pyright_row(repeats: int) -> BenchRow | None:
    """None where there is no `node` on PATH to run pyright's CLI with directly."""
    node = shutil.which("node")
    if node is None:
        return None
    paths = ["generator", "generated"]
    direct = [node, str(Path(pyright.__file__).parent / "dist" / "index.js"), *paths]
    gate = [sys.executable, "-m", "pyright", *paths]
    measured, floor = _interleaved(lambda: _checked(gate), lambda: _checked(direct), repeats)
    return BenchRow("pyright gate (strict)", measured, "pyright's node CLI alone", floor, 1.1,
                    "generator/ + generated/, 0 errors")  # fmt: skip


def _checked(command: list[str], cwd: Path = ROOT) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=_ENVIRONMENT)
    elapsed = time.perf_counter() - started
    if "0 errors" not in result.stdout:
        raise RuntimeError(f"pyright found errors:\n{result.stdout}")
    return elapsed


def scaling(work: Path, factors: tuple[int, ...]) -> tuple[list[tuple[int, float]], float]:
    """(slots, seconds) of a full regeneration per synthetic set, and the fitted exponent."""
    points: list[tuple[int, float]] = []
    for factor in factors:
        slots = BUNDLED_SLOTS * factor
        root = write_project(
            work / f"synthetic-{factor}x", slots, ROOT / "schemas" / "slot.schema.json"
        )
        points.append((slots, _full_regeneration(root)))
        shutil.rmtree(root)
    return points, fitted_exponent(points)


def fitted_exponent(points: list[tuple[int, float]]) -> float:
    """The least-squares slope of log(time) against log(size)."""
    xs = [math.log(size) for size, _ in points]
    ys = [math.log(seconds) for _, seconds in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return covariance / sum((x - mean_x) ** 2 for x in xs)


def measure(
    repeats: int, factors: tuple[int, ...]
) -> tuple[list[BenchRow], list[tuple[int, float]], float]:
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        work = Path(folder)
        rows = regeneration_rows(work, repeats)
        rows.append(typecheck_row(work, max(1, repeats // 2)))
        gate = pyright_row(max(1, repeats // 2))
        if gate is not None:
            rows.append(gate)
        points, exponent = scaling(work, factors)
    return rows, points, exponent
