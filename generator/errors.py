"""The one error type every stage raises for bad input, and how it is printed."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DescriptionError:
    """A problem in a description file, located by JSON pointer, with what to do about it."""

    file: str
    pointer: str
    message: str
    fix: str

    def render(self) -> str:
        """One short, traceback-free report."""
        location = f"{self.file}: {self.pointer or '/'}"
        return f"error: {location}: {self.message}\n  fix: {self.fix}"


class DescriptionErrors(Exception):
    """Raised when descriptions are invalid; carries every error found in that stage."""

    def __init__(self, errors: list[DescriptionError]) -> None:
        super().__init__("\n".join(error.render() for error in errors))
        self.errors = errors


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from path parts."""
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in parts)
    return "".join("/" + part for part in escaped)
