"""Stage 6: format rendered code with black, in-process, in one pass."""

from importlib.metadata import version

import black
from black.mode import TargetVersion
from black.parsing import InvalidInput

BLACK_VERSION = version("black")  # formatted output is keyed on it (generator.pipeline)
MODE = black.Mode(line_length=100, target_versions={TargetVersion.PY312})


class RenderedCodeError(Exception):
    """Black could not parse rendered code: a generator or template bug, not bad input."""


def format_code(source: str, template: str) -> str:
    """One black pass over rendered code.

    `black.format_str` formats a changed text twice: its second pass settles trailing commas
    that the first pass added before optional parentheses. The code our templates render is
    settled after the first pass, so the second would double black's cost (most of a full
    regeneration) for nothing. Tests hold that claim: every committed generated file
    (tests/test_output.py) and every fuzzed output (tests/fuzz) is one that `black.format_str`
    returns unchanged.
    """
    try:
        # black exposes no one-pass entry point; the private one is pinned with black's version.
        return black._format_str_once(source, mode=MODE)  # pyright: ignore[reportPrivateUsage]
    except InvalidInput as error:
        numbered = "\n".join(f"{n:4} | {line}" for n, line in enumerate(source.splitlines(), 1))
        raise RenderedCodeError(
            f"template {template} rendered invalid Python: {error}\n{numbered}"
        ) from None
