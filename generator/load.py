"""Stage 1: read description files and validate them against the JSON Schema."""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError

from generator import identifiers
from generator.errors import DescriptionError, DescriptionErrors, pointer

SCHEMA_FILE = "slot.schema.json"


@dataclass(frozen=True)
class LoadedDescription:
    """One description file, parsed and schema-valid."""

    file: str  # as shown to users: relative to the project root
    text: str
    data: dict[str, Any]


def load_descriptions(
    schemas_dir: Path, root: Path, files: Sequence[Path] | None = None
) -> list[LoadedDescription]:
    """Loads every `*.json` below `schemas_dir/megatron_core` (or `files`: a user's own
    descriptions), sorted by path, each checked with `schemas_dir/slot.schema.json`.

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
    paths = (schemas_dir / "megatron_core").rglob("*.json") if files is None else files
    for path in sorted(paths):
        file = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            errors.append(
                DescriptionError(
                    file,
                    "",
                    f"not UTF-8: byte {error.object[error.start]:#04x} at offset {error.start}",
                    "save the file as UTF-8 (JSON's encoding)",
                )
            )
            continue
        except OSError as error:
            errors.append(
                DescriptionError(
                    file, "", f"cannot read the file: {error}", "check that it is a readable file"
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
        try:
            valid = fast.is_valid(document)
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): jsonschema-rs takes UTF-8
            problems = _schema_errors(validator, document, file)
        else:
            problems = (
                []
                if valid
                else _schema_errors(validator, document, file) or _fast_errors(fast, document, file)
            )
        if problems:
            errors.extend(problems)
        else:
            loaded.append(LoadedDescription(file, text, document))
    if errors:
        raise DescriptionErrors(errors)
    return loaded


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
        location = pointer(*error.absolute_path)
        if "propertyNames" in error.absolute_schema_path:  # the key itself is wrong: name it
            location += pointer(str(error.instance))
        by_location.setdefault(location, error)
    names = _name_definitions(validator)
    return [
        DescriptionError(file, location, *_explain(error, names))
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


def _name_definitions(validator: Draft202012Validator) -> dict[str, list[object]]:
    """The schema's definitions of names, by kind, with every subschema they consist of (an error
    reports the subschema whose keyword failed)."""
    schema = cast(dict[str, Any], validator.schema)
    definitions = cast(dict[str, dict[str, Any]], schema.get("$defs", {}))
    kinds: dict[str, list[object]] = {}
    for kind in ("identifier", "methodName", "protocolName", "moduleName"):
        definition = definitions.get(kind)
        if definition is None:
            continue
        negated = cast(dict[str, list[object]], definition.get("not", {}))
        alternatives = cast(list[object], definition.get("anyOf", definition.get("allOf", [])))
        kinds[kind] = [definition, *negated.get("anyOf", []), *alternatives]
    return kinds


def _deepest(error: ValidationError) -> ValidationError:
    """For `oneOf`/`anyOf`, the branch error that got furthest into the document."""
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return error


def _explain(error: ValidationError, names: dict[str, list[object]]) -> tuple[str, str]:
    """(message, fix) for one schema violation; a bad name says what is wrong with it and why."""
    if isinstance(error.instance, str):
        for kind, parts in names.items():
            if any(error.schema is part for part in parts):
                found = identifiers.problem(error.instance, dunder_allowed=kind == "methodName")
                if found is None and kind == "protocolName":
                    found = identifiers.protocol_problem(error.instance)
                if found is None and kind == "moduleName":
                    found = identifiers.module_problem(error.instance)
                if found is not None:
                    return f"schema violation: {found[0]}", found[1]
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
    }
    fix = fixes.get(str(error.validator), f"see schemas/{SCHEMA_FILE} at /{schema_path}")
    return f"schema violation: {error.message}", fix
