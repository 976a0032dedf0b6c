"""`python -m bench [--repeats N] [--runtime-repeats N] [--factors 1,10,100] [--readme]`: the
bench table.

Prints every measurement against its floor; with --readme, also replaces the table in
README.md between the bench markers.
"""

import argparse
import platform
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import generation, runtime
from bench.rows import BenchRow

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def markdown(rows: list[BenchRow], points: list[tuple[int, float]], exponent: float) -> str:
    lines = [
        f"Measured by `make bench` on {date.today().isoformat()} ({platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}): medians of runs "
        "interleaved with their floor's.",
        "",
        "| measurement | time | floor | floor time | ratio | goal | |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for row in rows:
        verdict = "met" if row.met else "**missed**"
        lines.append(
            f"| {row.name} | {_time(row.measured_s)} | {row.floor_name} | {_time(row.floor_s)} "
            f"| {row.ratio:.2f}x | ≤ {row.goal:.2f}x | {verdict}; {row.detail} |"
        )
    sizes = ", ".join(f"{slots} slots {seconds:.1f} s" for slots, seconds in points)
    verdict = "met" if exponent <= 1.05 else "**missed**"
    lines += [
        "",
        f"Scaling of a full regeneration (synthetic sets): {sizes}; fitted exponent of time "
        f"against size **{exponent:.2f}** (goal ≤ 1.05, {verdict}).",
    ]
    return "\n".join(lines)


def _time(seconds: float) -> str:
    if seconds < 0.001:  # spec construction: microseconds a call
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


def _print(rows: list[BenchRow], points: list[tuple[int, float]], exponent: float) -> None:
    table = Table(title="make bench")
    for column in ("measurement", "time", "floor", "floor time", "ratio", "goal", "detail"):
        table.add_column(column)
    for row in rows:
        ratio = f"[{'green' if row.met else 'red'}]{row.ratio:.2f}x[/]"
        table.add_row(row.name, _time(row.measured_s), row.floor_name, _time(row.floor_s),
                      ratio, f"≤ {row.goal:.2f}x", row.detail)  # fmt: skip
    console = Console()
    console.print(table)
    for slots, seconds in points:
        console.print(f"synthetic set of {slots} slots: full regeneration {seconds:.2f} s")
    console.print(f"fitted exponent of time against size: {exponent:.3f} (goal ≤ 1.05)")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="runs per side (median)")
    parser.add_argument(
        "--runtime-repeats",
        type=int,
        default=runtime.DEFAULT_REPEATS,
        help="interleaved pairs per runtime row (ours vs upstream's spec; many short runs)",
    )
    parser.add_argument("--factors", default="1,10,100", help="synthetic set sizes, x bundled")
    parser.add_argument("--readme", action="store_true", help="update README.md's bench table")
    args = parser.parse_args()
    factors = tuple(int(factor) for factor in args.factors.split(","))
    rows, points, exponent = generation.measure(args.repeats, factors)
    rows += runtime.measure(args.runtime_repeats)
    _print(rows, points, exponent)
    if args.readme:
        text = README.read_text(encoding="utf-8")
        before, rest = text.split(BEGIN, 1)
        _, after = rest.split(END, 1)
        README.write_text(f"{before}{BEGIN}\n{markdown(rows, points, exponent)}\n{END}{after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
