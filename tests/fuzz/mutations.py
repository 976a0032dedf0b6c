"""Mutated copies of the bundled descriptions (schemas/megatron_core/*.json), drawn by hypothesis.

`mutated_inputs()` picks one description (sometimes two) and applies one to three mutations, each
of a kind in `KINDS`: drop a key, duplicate a list element or a key-value into a sibling, replace
a value with one of a wrong type, rename a reference (an imports alias, builder, interface,
adapter, slot or parameter name: one use, a whole file or every file, to another existing name or
a fresh one), swap two values, insert a hostile string (quotes, triple quotes, newlines,
backslashes, `__import__('os')`, look-alike letters, keywords), truncate a list, change an enum
value (or flip a boolean), write a key twice in one JSON object, add a copy of a whole
description, or corrupt the file's bytes. Every choice comes from a `random.Random` that
hypothesis seeds, so a run is as deterministic as hypothesis's seed.
"""

import copy
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from generator.errors import pointer

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTIONS = ROOT / "schemas" / "megatron_core"
SCHEMA_FILE = ROOT / "schemas" / "slot.schema.json"

JsonPath = tuple[str | int, ...]

# Values of a JSON type a field does not expect.
WRONG_VALUES: tuple[Any, ...] = (
    0,
    1,
    -1,
    2**63,
    1.5,
    None,
    True,
    False,
    [],
    [0],
    ["x"],
    {},
    {"name": "X"},
    "",
)

SENTINEL = "PWNED"  # appears in code position only if a hostile string escaped its literal
HOSTILE: tuple[str, ...] = (
    '"',
    "'",
    '"""',
    "'''",
    '"""; __import__("os").system("PWNED"); """',
    "'''; __import__('os').system('PWNED'); '''",
    "\\",
    "a\\",
    "\\n",
    "\\x",
    "\\N{BULLET}",
    "\\u00",
    "\n",
    "\n__import__('os').system('PWNED')\n",
    "\r__import__('os').system('PWNED')",
    "\r\n",
    "\t",
    "\x0c",
    "\x00",
    "\x1b[31m",
    "\u2028",
    "\u0085",
    "\u200b",
    "\u202e",
    "\ud800",
    "\U0001f600",
    "__import__('os')",
    "__import__('os').system('PWNED')",
    "eval('1')",
    "lambda: 0",
    "(x := 1)",
    "[x for x in ()]",
    "f'{x}'",
    "...",
    "*args",
    "Tensor | None",
    "Tensor\nimport os",
    "int]",
    "list[",
    "'Tensor'",
    "Literal['\"']",
    "\uff34\uff45\uff4e\uff53\uff4f\uff52",  # fullwidth "Tensor" (NFKC folds it to Tensor)
    "\u0422\u0435nsor",  # Cyrillic Te and ie: looks like "Tensor"
    "\ufb01",  # the ligature fi
    "None",
    "True",
    "class",
    "def",
    "import",
    "lambda",
    "match",
    "type",
    "_",
    "__init__",
    "__all__",
    "self",
    "print",
    "object",
    "typing",
    "Protocol",
    "dataclass",
    "spec_values",
    "{{ x }}",
    "{% raw %}",
    "{#",
    "%s",
    "{0}",
    "# type: ignore",
    "# pyright: basic",
    "x" * 300,
    "a b",
    " ",
    "-",
    "1abc",
)

KINDS: tuple[str, ...] = (
    "drop_key",
    "duplicate",
    "wrong_type",
    "rename_ref",
    "swap",
    "hostile_string",
    "truncate_list",
    "enum_change",
    "duplicate_json_key",
    "duplicate_file",
    "bad_bytes",
)

# Keys whose string values name something another part of the descriptions refers to.
_REFERENCE_KEYS = frozenset(
    {
        "name",
        "adapter",
        "returns",
        "object",
        "builder",
        "parent",
        "class",
        "submodules",
        "factory",
        "role",
        "default",
        "placeholder",
        "call",
        "field",
        "argument",
        "by",
        "module",
        "type",
    }
)
_KEYED_BY_NAME = frozenset({"imports", "arguments", "slots", "fixed", "derive", "let"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DuplicatedKeys(dict[str, Any]):
    """A JSON object written with some keys twice: `extra` pairs follow the regular ones."""

    extra: list[tuple[str, Any]]

    def __init__(self, items: dict[str, Any], extra: list[tuple[str, Any]]) -> None:
        super().__init__(items)
        self.extra = extra


@cache
def corpus() -> dict[str, Any]:
    """The bundled descriptions, file name -> parsed JSON (treat as read-only)."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DESCRIPTIONS.glob("*.json"))}


@cache
def enum_alternatives() -> dict[str, tuple[str, ...]]:
    """Each string some `enum` of the schema allows -> the other values of those enums."""
    enums: list[list[str]] = []

    def walk(node: Any, under_not: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "enum" and not under_not and all(isinstance(v, str) for v in value):
                    enums.append(value)
                walk(value, under_not or key == "not")
        elif isinstance(node, list):
            for item in node:
                walk(item, under_not)

    walk(json.loads(SCHEMA_FILE.read_text()), False)
    alternatives: dict[str, set[str]] = {}
    for values in enums:
        for value in values:
            alternatives.setdefault(value, set()).update(v for v in values if v != value)
    return {value: tuple(sorted(others)) for value, others in alternatives.items() if others}


@cache
def reference_names() -> tuple[str, ...]:
    """Names the descriptions define or refer to (the pool a renamed reference is drawn from)."""
    names: set[str] = set()
    for document in corpus().values():
        for path, value in nodes(document):
            last = path[-1] if path else None
            if isinstance(value, str) and last in _REFERENCE_KEYS and _IDENTIFIER.fullmatch(value):
                names.add(value)
            if isinstance(value, dict) and last in _KEYED_BY_NAME:
                names.update(value)
    return tuple(sorted(names))


def nodes(data: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Any]]:
    """Every node of a JSON document with its path, the root first."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from nodes(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from nodes(value, (*path, index))


def get(data: Any, path: JsonPath) -> Any:
    for part in path:
        data = data[part]
    return data


def put(data: Any, path: JsonPath, value: Any) -> None:
    get(data, path[:-1])[path[-1]] = value


def to_json(value: Any, indent: int = 0) -> tuple[str, bool]:
    """(JSON text, whether some object in it has a key twice); ASCII only, so it is valid UTF-8."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        pairs = [*value.items(), *(value.extra if isinstance(value, DuplicatedKeys) else [])]
        duplicated = isinstance(value, DuplicatedKeys) and bool(value.extra)
        parts: list[str] = []
        for key, item in pairs:
            text, inner_duplicated = to_json(item, indent + 1)
            duplicated |= inner_duplicated
            parts.append(f"{inner}{json.dumps(key)}: {text}")
        return ("{\n" + ",\n".join(parts) + f"\n{pad}}}" if parts else "{}"), duplicated
    if isinstance(value, list):
        duplicated = False
        parts = []
        for item in value:
            text, inner_duplicated = to_json(item, indent + 1)
            duplicated |= inner_duplicated
            parts.append(inner + text)
        return ("[\n" + ",\n".join(parts) + f"\n{pad}]" if parts else "[]"), duplicated
    return json.dumps(value), False


@dataclass
class MutatedInput:
    """Changed description files (by file name) and what was done to them."""

    documents: dict[str, Any] = field(default_factory=dict)  # only the changed files
    byte_edits: dict[str, str] = field(default_factory=dict)  # file -> bad_bytes variant
    steps: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def document(self, file: str) -> Any:
        """The file's (mutable) document, copied from the corpus on first use."""
        if file not in self.documents:
            self.documents[file] = copy.deepcopy(corpus()[file])
        return self.documents[file]

    def files(self) -> tuple[dict[str, bytes], bool]:
        """(file name -> bytes to write, whether some JSON object has a key twice)."""
        written: dict[str, bytes] = {}
        duplicated_any = False
        for file, data in sorted(self.documents.items()):
            text, duplicated = to_json(data)
            duplicated_any |= duplicated
            written[file] = _corrupt(text + "\n", self.byte_edits.get(file))
        return written, duplicated_any and not self.byte_edits

    def describe(self) -> str:
        return "; ".join(self.steps)


def _corrupt(text: str, variant: str | None) -> bytes:
    data = text.encode()
    match variant:
        case None:
            return data
        case "bom":
            return b"\xef\xbb\xbf" + data
        case "latin1":
            at = data.index(b'"doc": "') + len(b'"doc": "') if b'"doc": "' in data else 1
            return data[:at] + b"\xe9" + data[at:]
        case "truncated":
            return data[: len(data) // 3]
        case "not_object":
            return b"[" + data + b"]"
        case "empty":
            return b""
        case _:
            raise ValueError(variant)


def _pick[T](rng: random.Random, candidates: list[T]) -> T | None:
    return rng.choice(candidates) if candidates else None


def _drop_key(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    choice = _pick(rng, [(p, k) for p, v in nodes(data) if isinstance(v, dict) for k in v])
    if choice is None:
        return None
    path, key = choice
    del get(data, path)[key]
    return f"drop_key {file} {pointer(*path, key)}"


def _duplicate(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    if rng.random() < 0.5:  # a list element, again, somewhere in its list
        choice = _pick(
            rng, [(p, i) for p, v in nodes(data) if isinstance(v, list) for i in range(len(v))]
        )
        if choice is None:
            return None
        path, index = choice
        items = get(data, path)
        at = rng.randint(0, len(items))
        items.insert(at, copy.deepcopy(items[index]))
        return f"duplicate {file} {pointer(*path, index)} -> {pointer(*path, at)}"
    # a key-value of an object in a list, copied into a sibling object of that list
    candidates = [
        (p, k)
        for p, v in nodes(data)
        if isinstance(v, dict) and p and isinstance(p[-1], int)
        for k in v
        if sum(isinstance(s, dict) for s in get(data, p[:-1])) > 1
    ]
    choice = _pick(rng, candidates)
    if choice is None:
        return None
    path, key = choice
    siblings = [
        i for i, s in enumerate(get(data, path[:-1])) if isinstance(s, dict) and i != path[-1]
    ]
    target = (*path[:-1], _pick(rng, siblings))
    get(data, target)[key] = copy.deepcopy(get(data, path)[key])
    return f"duplicate {file} {pointer(*path, key)} -> {pointer(*target, key)}"


def _wrong_type(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    choice = _pick(rng, [(p, v) for p, v in nodes(data) if p])
    if choice is None:
        return None
    path, current = choice
    options = [w for w in WRONG_VALUES if type(w) is not type(current) or w != current]
    value = _pick(rng, options)
    put(data, path, copy.deepcopy(value))
    return f"wrong_type {file} {pointer(*path)} = {json.dumps(value)}"


def _rename(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", new, text)


def _rename_everywhere(data: Any, old: str, new: str) -> Any:
    if isinstance(data, dict):
        renamed = {
            (new if key == old else key): _rename_everywhere(value, old, new)
            for key, value in data.items()
        }
        if isinstance(data, DuplicatedKeys):
            return DuplicatedKeys(
                renamed, [(k, _rename_everywhere(v, old, new)) for k, v in data.extra]
            )
        return renamed
    if isinstance(data, list):
        return [_rename_everywhere(item, old, new) for item in data]
    if isinstance(data, str):
        return _rename(data, old, new)
    return data


def _rename_ref(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    pool = reference_names()
    known = set(pool)
    occurrences: list[tuple[JsonPath, bool, str]] = []  # (path, is a key, name)
    for path, value in nodes(data):
        if isinstance(value, str):
            occurrences.extend(
                (path, False, m.group()) for m in _IDENTIFIER.finditer(value) if m.group() in known
            )
        if isinstance(value, dict):
            occurrences.extend(((*path, k), True, k) for k in value if k in known)
    choice = _pick(rng, occurrences)
    if choice is None:
        return None
    path, is_key, old = choice
    new = _pick(rng, [n for n in pool if n != old]) if rng.random() < 0.5 else f"{old}Fz"
    assert new is not None
    scope = rng.choice(["one", "file", "all"])
    if scope == "one":
        if is_key:
            parent = get(data, path[:-1])
            replaced = {(new if k == old else k): v for k, v in parent.items()}
            if path[:-1]:
                put(data, path[:-1], replaced)
            else:
                state.documents[file] = replaced
        else:
            put(data, path, _rename(get(data, path), old, new))
    else:
        files = [file] if scope == "file" else sorted(corpus())
        for each in files:
            state.documents[each] = _rename_everywhere(state.document(each), old, new)
    return f"rename_ref {file} {pointer(*path)} {old!r} -> {new!r} ({scope})"


def _swap(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    everything = [(p, v) for p, v in nodes(data) if p]
    first = _pick(rng, everything)
    if first is None:
        return None
    path, value = first
    mode = rng.choice(["sibling", "same_type", "any"])

    def related(p: JsonPath) -> bool:  # neither contains the other
        return p[: len(path)] != path and path[: len(p)] != p

    if mode == "sibling":
        others = [p for p, _ in everything if p[:-1] == path[:-1] and p != path]
    elif mode == "same_type":
        others = [p for p, v in everything if type(v) is type(value) and related(p)]
    else:
        others = [p for p, _ in everything if related(p)]
    other = _pick(rng, others)
    if other is None:
        return None
    second = get(data, other)
    put(data, path, second)
    put(data, other, value)
    return f"swap {file} {pointer(*path)} <-> {pointer(*other)}"


def _hostile_string(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    candidates: list[tuple[JsonPath, bool]] = []
    for path, value in nodes(data):
        if isinstance(value, str) and path:
            candidates.append((path, False))
        if isinstance(value, dict):
            candidates.extend(((*path, k), True) for k in value)
    choice = _pick(rng, candidates)
    if choice is None:
        return None
    path, is_key = choice
    hostile = rng.choice(HOSTILE)
    placement = rng.choice(["replace", "prefix", "suffix", "middle"])

    def place(text: str) -> str:
        middle = len(text) // 2
        return {
            "replace": hostile,
            "prefix": hostile + text,
            "suffix": text + hostile,
            "middle": text[:middle] + hostile + text[middle:],
        }[placement]

    if is_key:
        old = path[-1]
        assert isinstance(old, str)
        parent = get(data, path[:-1])
        replaced = {(place(k) if k == old else k): v for k, v in parent.items()}
        if path[:-1]:
            put(data, path[:-1], replaced)
        else:
            state.documents[file] = replaced
    else:
        put(data, path, place(get(data, path)))
    where = "key" if is_key else "value"
    return f"hostile_string {file} {pointer(*path)} {where} {placement} {hostile!r}"


def _truncate_list(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    choice = _pick(rng, [p for p, v in nodes(data) if isinstance(v, list) and v])
    if choice is None:
        return None
    items = get(data, choice)
    keep = rng.randint(0, len(items) - 1)
    del items[keep:]
    return f"truncate_list {file} {pointer(*choice)} to {keep}"


def _enum_change(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    alternatives = enum_alternatives()
    candidates = [
        (p, v)
        for p, v in nodes(data)
        if p and (isinstance(v, bool) or (isinstance(v, str) and v in alternatives))
    ]
    choice = _pick(rng, candidates)
    if choice is None:
        return None
    path, value = choice
    new = (not value) if isinstance(value, bool) else rng.choice(alternatives[value])
    put(data, path, new)
    return f"enum_change {file} {pointer(*path)} {value!r} -> {new!r}"


def _duplicate_json_key(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    data = state.document(file)
    choice = _pick(rng, [(p, k) for p, v in nodes(data) if isinstance(v, dict) for k in v])
    if choice is None:
        return None
    path, key = choice
    target = get(data, path)
    which = rng.choice(["same", "sibling", "wrong_type"])
    if which == "same":
        value = copy.deepcopy(target[key])
    elif which == "sibling":
        value = copy.deepcopy(target[_pick(rng, sorted(target))])
    else:
        value = copy.deepcopy(_pick(rng, list(WRONG_VALUES)))
    extra = [*(target.extra if isinstance(target, DuplicatedKeys) else []), (key, value)]
    duplicated = DuplicatedKeys(dict(target), extra)
    if path:
        put(data, path, duplicated)
    else:
        state.documents[file] = duplicated
    return f"duplicate_json_key {file} {pointer(*path, key)} = {json.dumps(value)[:60]}"


def _duplicate_file(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    copy_name = file.removesuffix(".json") + "_copy.json"
    if copy_name in state.documents:
        return None
    data = copy.deepcopy(state.document(file))
    renamed = rng.random() < 0.5 and isinstance(data, dict) and isinstance(data.get("module"), str)
    if renamed:
        data["module"] = data["module"] + "_copy"
    state.documents[copy_name] = data
    return f"duplicate_file {file} -> {copy_name}" + (" (module renamed)" if renamed else "")


def _bad_bytes(rng: random.Random, state: MutatedInput, file: str) -> str | None:
    variant = rng.choice(["bom", "latin1", "truncated", "not_object", "empty"])
    state.document(file)
    state.byte_edits[file] = variant
    return f"bad_bytes {file} {variant}"


MUTATORS: dict[str, Callable[[random.Random, MutatedInput, str], str | None]] = {
    "drop_key": _drop_key,
    "duplicate": _duplicate,
    "wrong_type": _wrong_type,
    "rename_ref": _rename_ref,
    "swap": _swap,
    "hostile_string": _hostile_string,
    "truncate_list": _truncate_list,
    "enum_change": _enum_change,
    "duplicate_json_key": _duplicate_json_key,
    "duplicate_file": _duplicate_file,
    "bad_bytes": _bad_bytes,
}
# Most draws go to the structural kinds; corrupt bytes and whole-file copies are rarer.
_WEIGHTED_KINDS = [
    kind for kind in KINDS for _ in range(1 if kind in {"bad_bytes", "duplicate_file"} else 4)
]


@st.composite
def mutated_inputs(draw: st.DrawFn) -> MutatedInput:
    """One or two bundled descriptions with one to three mutations.

    Hypothesis draws the seed of a `random.Random` that makes every choice: hypothesis favours
    small and repeated choice values, and mutations should cover the descriptions evenly.
    """
    rng: random.Random = draw(st.randoms(use_true_random=True))
    names = sorted(corpus())
    chosen = rng.sample(names, rng.choice([1, 1, 1, 1, 2]))
    state = MutatedInput()
    for step in range(rng.randint(1, 3)):
        file = chosen[step] if step < len(chosen) else rng.choice(chosen)
        kind = rng.choice(_WEIGHTED_KINDS)
        if file in state.byte_edits:
            kind = "drop_key"  # the file's text is corrupt anyway
        described = MUTATORS[kind](rng, state, file)
        if described is None:  # nothing of that kind in the file: drop a key instead
            kind, described = "drop_key", _drop_key(rng, state, file)
        assert described is not None
        state.kinds.append(kind)
        state.steps.append(described)
    return state
