"""Stage 1: read description files and validate them against the JSON Schema."""

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError

from generator.errors import DescriptionError, DescriptionErrors, pointer

SCHEMA_FILE = "slot.schema.json"


@dataclass(frozen=True)
class LoadedDescription:
    """One description file, parsed and schema-valid."""

    file: str  # as shown to users: relative to the project root
    text: str
    data: dict[str, Any]


def load_descriptions(schemas_dir: Path, root: Path) -> list[LoadedDescription]:
    """Loads every `*.json` below `schemas_dir/megatron_core`, sorted by path.

    Raises DescriptionErrors listing every unreadable or schema-invalid file.
    """
    schema = json.loads((schemas_dir / SCHEMA_FILE).read_text())
    # Two validators of the same schema: jsonschema-rs (compiled; a few hundred times faster)
    # decides whether a description is valid, and jsonschema, whose errors carry the failed
    # oneOf branches the explanations below are made from, explains one that is not.
    fast = jsonschema_rs.Draft202012Validator(schema)
    validator = Draft202012Validator(schema)
    loaded: list[LoadedDescription] = []
    errors: list[DescriptionError] = []
    for path in sorted((schemas_dir / "megatron_core").rglob("*.json")):
        file = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            errors.append(
                DescriptionError(
                    file,
                    "",
                    f"not valid UTF-8: byte {error.object[error.start]:#04x} at offset {error.start}",
                    "save the file as UTF-8 (JSON text must be UTF-8)",
                )
            )
            continue
        duplicates = _DuplicateKeys()
        try:
            data = json.loads(text, object_pairs_hook=duplicates.hook)
        except json.JSONDecodeError as error:
            errors.append(
                DescriptionError(
                    file,
                    "",
                    f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}",
                    "fix the JSON syntax (a missing comma or quote is the usual cause)",
                )
            )
            continue
        if not isinstance(data, dict):
            errors.append(
                DescriptionError(file, "", "a description must be a JSON object", "wrap it in {}")
            )
            continue
        document = cast(dict[str, Any], data)  # JSON object keys are always strings
        if duplicates.found:
            errors.extend(duplicates.errors(document, file))
            continue
        if _ESCAPED_UNWRITABLE.search(text):
            unwritable = _unwritable_errors(document, file)
            if unwritable:
                errors.extend(unwritable)
                continue
        if fast.is_valid(document):
            loaded.append(LoadedDescription(file, text, document))
        else:
            errors.extend(
                _schema_errors(validator, document, file) or _fast_errors(fast, document, file)
            )
    if errors:
        raise DescriptionErrors(errors)
    return loaded


# JSON escapes of characters no generated file can hold: NUL (Python source cannot contain it)
# and UTF-16 surrogates (valid in a pair, which json.loads joins; alone, UTF-8 cannot encode one).
_ESCAPED_UNWRITABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNWRITABLE = re.compile("[\x00\ud800-\udfff]")


def _unwritable_errors(document: Any, file: str) -> list[DescriptionError]:
    """A located error for each string (or key) holding a NUL or an unpaired surrogate."""
    found: list[DescriptionError] = []
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while pending:
        path, node = pending.pop()
        children: list[tuple[str | int, Any]] = []
        if isinstance(node, dict):
            entries = cast(dict[str, Any], node)
            children = list(entries.items())
            for key in entries:
                if _UNWRITABLE.search(key):
                    found.append(_unwritable(file, pointer(*path, key), key, "key"))
        elif isinstance(node, list):
            children = list(enumerate(cast(list[Any], node)))
        elif isinstance(node, str) and _UNWRITABLE.search(node):
            found.append(_unwritable(file, pointer(*path), node, "string"))
        pending.extend(((*path, key), value) for key, value in children)
    return sorted(found, key=lambda error: error.pointer)


def _unwritable(file: str, location: str, text: str, what: str) -> DescriptionError:
    character = _UNWRITABLE.search(text)
    assert character is not None
    return DescriptionError(
        file,
        location,
        f"the {what} holds {character.group()!r}, which no generated file can hold "
        "(a NUL, or half of a UTF-16 surrogate pair)",
        "remove the \\u escape, or write the whole character",
    )


class _DuplicateKeys:
    """Finds keys written twice in one JSON object (json keeps the last one silently)."""

    def __init__(self) -> None:
        self.found: dict[int, tuple[dict[str, Any], list[str]]] = {}  # id -> (object, keys)

    def hook(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        if len(built) < len(pairs):
            counts = Counter(key for key, _ in pairs)
            twice = [key for key in built if counts[key] > 1]
            self.found[id(built)] = (built, twice)  # keeps the object alive: its id stays unique
        return built

    def errors(self, document: Any, file: str) -> list[DescriptionError]:
        found: list[DescriptionError] = []
        pending: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
        while pending:
            path, node = pending.pop()
            if isinstance(node, dict):
                entries = cast(dict[str, Any], node)
                if id(entries) in self.found and self.found[id(entries)][0] is entries:
                    found.extend(
                        DescriptionError(
                            file,
                            pointer(*path, key),
                            f"key {key!r} appears more than once in this object"
                            " (JSON keeps only the last)",
                            f"keep one {key!r} (merge them if both hold something)",
                        )
                        for key in self.found[id(entries)][1]
                    )
                pending.extend(((*path, key), value) for key, value in entries.items())
            elif isinstance(node, list):
                items = cast(list[Any], node)
                pending.extend(((*path, index), value) for index, value in enumerate(items))
        return sorted(found, key=lambda error: error.pointer)


def _schema_errors(
    validator: Draft202012Validator, document: dict[str, Any], file: str
) -> list[DescriptionError]:
    # jsonschema's deprecated two-argument overload of iter_errors is unannotated.
    errors = validator.iter_errors(document)  # pyright: ignore[reportUnknownMemberType]
    found: list[ValidationError] = sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])
    by_location: dict[str, ValidationError] = {}  # one error per location
    for error in found:
        error = _deepest(error)
        by_location.setdefault(pointer(*error.absolute_path), error)
    return [
        DescriptionError(file, location, *_explain(error))
        for location, error in by_location.items()
    ]


def _fast_errors(
    fast: jsonschema_rs.Validator, document: dict[str, Any], file: str
) -> list[DescriptionError]:
    """jsonschema-rs's own errors, for the rare document only it rejects: its `pattern` is an
    ECMA-262 regex, where `$` does not match before a trailing newline as Python's does."""
    return [
        DescriptionError(
            file,
            pointer(*error.instance_path),
            f"schema violation: {error.message}",
            f"see schemas/{SCHEMA_FILE} at /{'/'.join(str(p) for p in error.schema_path)}",
        )
        for error in fast.iter_errors(document)
    ]


def _deepest(error: ValidationError) -> ValidationError:
    """For `oneOf`/`anyOf`, the branch error that got furthest into the document."""
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return error


def _explain(error: ValidationError) -> tuple[str, str]:
    """(message, fix) for one schema violation."""
    schema_path = "/".join(str(part) for part in error.absolute_schema_path)
    fixes = {
        "additionalProperties": "remove the property or correct its spelling",
        "required": "add the missing property",
        "enum": f"use one of {error.validator_value!r}",
        "pattern": f"use a value matching {error.validator_value!r}",
        "type": f"use a value of JSON type {error.validator_value!r}",
        "minItems": "add at least one item",
        "minLength": "give a non-empty string",
        "uniqueItems": "remove the duplicate",
        "not": "choose a name that is not a Python keyword",
    }
    fix = fixes.get(str(error.validator), f"see schemas/{SCHEMA_FILE} at /{schema_path}")
    message = error.message
    if error.validator == "not":  # the only `not` in the schema excludes Python keywords
        message = f"{error.instance!r} is a Python keyword"
    return f"schema violation: {message}", fix
