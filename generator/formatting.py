"""Stage 6: format rendered code with black, in-process."""

from importlib.metadata import version

import black
from black.mode import TargetVersion
from black.parsing import InvalidInput

BLACK_VERSION = version("black")  # formatted output is keyed on it (generator.pipeline)
MODE = black.Mode(line_length=100, target_versions={TargetVersion.PY312})


class RenderedCodeError(Exception):
    """Black could not parse rendered code: a generator or template bug, not bad input."""


def format_code(source: str, template: str) -> str:
    try:
        return black.format_str(source, mode=MODE)
    except InvalidInput as error:
        numbered = "\n".join(f"{n:4} | {line}" for n, line in enumerate(source.splitlines(), 1))
        raise RenderedCodeError(
            f"template {template} rendered invalid Python: {error}\n{numbered}"
        ) from None
