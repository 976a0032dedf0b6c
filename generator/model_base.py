"""Stage 2 (shared): what every part of the model is made of: locations and parameters."""

from dataclasses import dataclass
from enum import Enum
from typing import Any

from generator.errors import pointer


@dataclass(frozen=True)
class Location:
    """Where an element was described."""

    file: str
    pointer: str


class ParameterKind(Enum):
    POSITIONAL = "positional"
    POSITIONAL_OR_KEYWORD = "positional_or_keyword"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: ParameterKind
    type: str
    default: str | None
    conditionally_passed: bool
    doc: str | None
    location: Location


class Locator:
    """Builds the JSON pointer of an element while the model is built."""

    def __init__(self, file: str, parts: tuple[str | int, ...] = ()) -> None:
        self.file = file
        self.parts = parts

    def __call__(self, *more: str | int) -> "Locator":
        return Locator(self.file, self.parts + more)

    @property
    def location(self) -> Location:
        return Location(self.file, pointer(*self.parts))


def build_parameter(data: dict[str, Any], at: Locator) -> Parameter:
    return Parameter(
        name=data["name"],
        kind=ParameterKind(data["kind"]),
        type=data["type"],
        default=data.get("default"),
        conditionally_passed=data.get("passed", "always") == "conditionally",
        doc=data.get("doc"),
        location=at.location,
    )


def build_parameters(items: list[dict[str, Any]], at: Locator) -> tuple[Parameter, ...]:
    return tuple(build_parameter(item, at(i)) for i, item in enumerate(items))
