"""One measured line of the bench table."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchRow:
    """`measured` against `floor`, both medians of runs interleaved in one process tree.

    `floor` is what the measured thing cannot beat (black alone on the same output, importing
    the dependencies, upstream's own spec); `goal` is the largest acceptable ratio.
    """

    name: str
    measured_s: float
    floor_name: str
    floor_s: float
    goal: float
    detail: str = ""

    @property
    def ratio(self) -> float:
        return self.measured_s / self.floor_s

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal
