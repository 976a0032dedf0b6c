"""One measured line of the bench table."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchRow:
    """`measured` against `floor`, both medians of runs interleaved in one process tree.

    `floor` is what the measured thing cannot beat (black alone on the same output, importing
    the dependencies, upstream's own spec); `goal` is the largest acceptable ratio.
    `paired_ratio`, where the runs were paired (each measured run back to back with a floor run),
    is the median of the per-pair ratios: it cancels load that changes more slowly than a pair,
    which the ratio of the two medians does not, so on a busy machine it is the far steadier
    estimate, and `ratio` is then it.
    """

    name: str
    measured_s: float
    floor_name: str
    floor_s: float
    goal: float
    detail: str = ""
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float:
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.measured_s / self.floor_s

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal
