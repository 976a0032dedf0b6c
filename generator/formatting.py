"""Stage 6: format rendered code with black, in-process, in one pass."""

import re
from importlib.metadata import version

import black
from black.mode import TargetVersion
from black.parsing import InvalidInput

BLACK_VERSION = version("black")  # formatted output is keyed on it (generator.pipeline)
MODE = black.Mode(line_length=100, target_versions={TargetVersion.PY312})


class RenderedCodeError(Exception):
    """Black could not parse rendered code: a generator or template bug, not bad input."""


# black exposes no one-pass entry point; the private one is pinned with black's version.
_one_pass = black._format_str_once  # pyright: ignore[reportPrivateUsage]

# A line that closes one bracket and opens another (`) -> Callable[`): its statement was split at
# two bracket pairs, where the trailing commas black's first pass added can make its second pass
# split elsewhere (make fuzz found this with a long type in a return annotation).
_SPLIT_AT_TWO_PAIRS = re.compile(r"^[ \t]*[)\]}].*[(\[{]$", re.MULTILINE)


def format_code(source: str, template: str) -> str:
    """black's `format_str`, without its second pass where that pass cannot change anything.

    `format_str` formats a changed text twice: its second pass settles trailing commas that the
    first pass added, which can move a split when a statement was split at two bracket pairs.
    Only then does this run the second pass: the modules generated from the bundled descriptions
    have no such statement, and the second pass would double black's cost (most of a full
    regeneration). Tests hold every committed generated file (tests/test_output.py) and every
    fuzzed output (tests/fuzz) to `black.format_str`, which returns them unchanged.
    """
    try:
        formatted = _one_pass(source, mode=MODE)
        if _SPLIT_AT_TWO_PAIRS.search(formatted):
            formatted = _one_pass(formatted, mode=MODE)
        return formatted
    except InvalidInput as error:
        numbered = "\n".join(f"{n:4} | {line}" for n, line in enumerate(source.splitlines(), 1))
        raise RenderedCodeError(
            f"template {template} rendered invalid Python: {error}\n{numbered}"
        ) from None
