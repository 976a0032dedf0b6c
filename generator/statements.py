"""One top-level statement of a large source file, parsed without parsing the whole file.

megatron-core's modules are large and validation reads a few classes of each: parsing them whole
was most of a full regeneration's time outside black. A statement's lines are cut at the next
line of code at column 0; a cut inside a string literal or brackets does not parse, so a
statement that parses alone is the file's own, and every caller falls back to the whole file's
tree when one does not.
"""

import ast
import re

_CONTINUATION = "#)]}"  # a comment, or the closing bracket of a multi-line header or call
_SIGNATURE_LINES = 60  # a method signature longer than this is read from the whole statement


def statement_alone(text: str, start: int) -> ast.stmt | None:
    """The statement whose first line starts at `start` (column 0), with the decorators right
    above it, parsed by itself, positions as in `text` (None: its lines are not one statement)."""
    decorators = _decorators_above(text, start)
    lines = text[start:].split("\n")  # not splitlines: a string may hold a form feed
    tree = _parsed(
        _blank_above(text, start, decorators) + "\n".join(decorators + lines[: _block_end(lines)])
    )
    if tree is None or len(tree.body) != 1:
        return None
    return tree.body[0]


def class_through_method(text: str, start: int, names: tuple[str, ...]) -> ast.ClassDef | None:
    """The class statement starting at `start` (column 0), parsed only through the signature of
    its first method named one of `names`: its body ends with that method, whose own body is
    `pass`. None when that is not certain: no such method, another of `names` further on (the
    first name wins whatever the order), a method the parse does not show directly in the class.

    The class's text up to that signature is the file's own, so a `def` inside a string or a
    nested block fails to parse or parses elsewhere than as the class's last statement."""
    decorators = _decorators_above(text, start)
    lines = text[start:].split("\n")
    end = _block_end(lines)
    pattern = re.compile(rf"^([ \t]+)def ({'|'.join(map(re.escape, names))})\b")
    found = next(((n, m) for n in range(1, end) if (m := pattern.match(lines[n]))), None)
    if found is None:
        return None
    first, match = found
    method = match.group(2)
    later = names[: names.index(method)]  # those that win over it: not before it, none after
    if any(text.find(f"def {other}", start) != -1 for other in later):
        return None
    above = _blank_above(text, start, decorators)
    body = f"{match.group(1)}    pass"
    for last in range(first, min(first + _SIGNATURE_LINES, end)):
        if not lines[last].split("#", 1)[0].rstrip().endswith(":"):
            continue  # not the end of a signature (a line ending one ends with its colon)
        tree = _parsed(above + "\n".join([*decorators, *lines[: last + 1], body]))
        if tree is None:
            continue
        node = tree.body[0] if len(tree.body) == 1 else None
        if (
            isinstance(node, ast.ClassDef)
            and isinstance(node.body[-1], ast.FunctionDef)
            and node.body[-1].name == method
            and node.body[-1].lineno == len(above) + len(decorators) + first + 1
        ):
            return node
        return None
    return None


def _blank_above(text: str, start: int, decorators: list[str]) -> str:
    """Blank lines in place of the file's lines above a statement and its decorators: parsed
    after them, every node is placed where the file has it."""
    return "\n" * (text.count("\n", 0, start) - len(decorators))


def _decorators_above(text: str, start: int) -> list[str]:
    """The decorator lines right above `start`, with their continuation lines, comments and
    blank lines between them."""
    lines: list[str] = []
    for line in reversed(text[:start].split("\n")[:-1]):  # [:-1]: start's own line
        if line and not (line[0] in "@)#" or line[0].isspace()):
            break
        lines.insert(0, line)
    while lines and not lines[0].startswith("@"):
        lines.pop(0)  # the end of the statement before: not part of this one
    return lines


def _block_end(lines: list[str]) -> int:
    """The index after the statement that starts lines (at column 0): the first line after it
    with code at column 0."""
    end = 1
    while end < len(lines):
        line = lines[end]
        if line and line[0] not in _CONTINUATION and not line[0].isspace():
            break
        end += 1
    return end


def _parsed(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):  # a cut inside a string, or not a whole statement
        return None
