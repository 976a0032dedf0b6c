"""What a name taken from a description may be in generated code, and why.

The schema (slot.schema.json `$defs/identifier`, `methodName`, `moduleName`) holds the same
rules, so editors flag a bad name early; this module words the errors and is what the Python
checks (expressions, argument names) call.
"""

import keyword
import re

ASCII_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PROTOCOL_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
MODULE_NAME = re.compile(r"[a-z][a-z0-9_]*")
DUNDER = re.compile(r"__[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*__")

NOT_ASCII_FIX = (
    "use ASCII letters, digits and _ only, not starting with a digit: generated code prints the "
    "name as written, Python folds look-alikes into other names (NFKC: 'Ｍlp' is 'Mlp') and other "
    "non-ASCII letters only look the same (Cyrillic 'М' is not 'M')"
)
SOFT_KEYWORD_FIX = (
    "choose another name: generated code does not use soft keywords as names (match and case "
    "read as statements, type is the builtin its annotations use, _ reads as 'unused')"
)
DOUBLE_UNDERSCORE_FIX = (
    "drop the leading underscores: Python mangles __names inside the generated classes, pyright "
    "reads __parameters as positional-only, and dunder names are Python's own (only an "
    "interface method may be one, e.g. __call__)"
)


def problem(name: str, *, dunder_allowed: bool = False) -> tuple[str, str] | None:
    """(what is wrong, what to do) when `name` cannot name something in generated code."""
    if not ASCII_IDENTIFIER.fullmatch(name):
        return f"{name!r} is not an ASCII Python identifier", NOT_ASCII_FIX
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword", f"choose another name, e.g. {name.lower()}_"
    if keyword.issoftkeyword(name):
        return f"{name!r} is a Python soft keyword", SOFT_KEYWORD_FIX
    if name.startswith("__") and not (dunder_allowed and DUNDER.fullmatch(name)):
        return f"{name!r} starts with two underscores", DOUBLE_UNDERSCORE_FIX
    return None


def module_problem(name: str) -> tuple[str, str] | None:
    """(what is wrong, what to do) when `name` cannot name a generated module."""
    found = problem(name)
    if found is not None:
        return found
    if not MODULE_NAME.fullmatch(name):
        return (
            f"module name {name!r} is not lowercase, starting with a letter",
            "use lowercase letters, digits and _, starting with a letter: the name becomes "
            "generated/megatron_core/<module>.py, and names that differ only in case (Mlp, mlp) "
            "are one file on case-insensitive file systems",
        )
    return None


def protocol_problem(name: str) -> tuple[str, str] | None:
    """(what is wrong, what to do) when `name` cannot name a generated class (a Protocol, an
    adapter, a role, a provider)."""
    found = problem(name)
    if found is not None:
        return found
    if not PROTOCOL_NAME.fullmatch(name) or name in ("None", "True", "False"):
        return (
            f"{name!r} is not a CapWords class name",
            "start with an uppercase ASCII letter and use only letters and digits "
            "(e.g. LinearFc1Builder)",
        )
    return None


def is_identifier(name: str) -> bool:
    """An ASCII identifier that is neither a keyword nor a soft keyword nor a __name."""
    return problem(name) is None
