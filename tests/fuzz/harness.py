"""Runs the real pipeline on one mutated input in a project copy and classifies the outcome.

The property: the input ends either in generated files (written whole by write_atomically, each
compiling, with no hostile string escaped into code) or in DescriptionErrors whose every error
names a description file, a JSON pointer that resolves in it, a message and what to do, with
generated/ and README.md byte-identical to before. Anything else is a defect.
"""

import ast
import functools
import hashlib
import json
import re
import shutil
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import black

import generator.load
import generator.pipeline
from generator.errors import DescriptionError, DescriptionErrors
from generator.formatting import MODE, format_code
from generator.output import compare, write_atomically
from generator.model import Location
from generator.pipeline import generate_files, generate_output
from tests.fuzz.mutations import ROOT, SENTINEL, MutatedInput, corpus

README = Path("README.md")
DESCRIPTION_DIR = "schemas/megatron_core"
# Names that appear in generated code only if a hostile string escaped its literal.
_INJECTED_NAMES = frozenset({"__import__", "eval", "exec", SENTINEL})


@dataclass(frozen=True)
class Defect:
    category: str  # traceback, unclear_error, partial_write, compile_error, injection, ...
    signature: str  # groups the same fault found by different inputs
    detail: str
    input: str  # MutatedInput.describe()


@dataclass
class Outcome:
    accepted: bool = False
    defects: list[Defect] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)  # accepted: .py files unlike baseline
    removed: tuple[str, ...] = ()  # accepted: baseline .py files no longer generated
    origins: dict[str, Location] = field(default_factory=dict)  # accepted: generated names
    error_count: int = 0


@functools.cache
def speed_up() -> None:
    """Memoizes pure, slow steps of the pipeline for this process (fuzzing calls them thousands
    of times with mostly the same arguments): black by input text, the Jinja environment, and the
    JSON-Schema check of one document."""
    generator.pipeline.format_code = _format_ignoring_input_hash
    generator.pipeline.environment = functools.cache(generator.pipeline.environment)
    schema_errors = generator.load._schema_errors  # pyright: ignore[reportPrivateUsage]
    memo: dict[tuple[str, str], list[DescriptionError]] = {}

    def cached_schema_errors(
        validator: Any, document: dict[str, Any], file: str
    ) -> list[DescriptionError]:
        key = (file, json.dumps(document, sort_keys=False))
        if key not in memo:
            if len(memo) > 20000:
                memo.clear()
            memo[key] = schema_errors(validator, document, file)
        return memo[key]

    generator.load._schema_errors = cached_schema_errors  # pyright: ignore[reportPrivateUsage]


_INPUT_HASH = re.compile(r"^# Input hash: ([0-9a-f]{32})$", re.MULTILINE)
_HASH_STANDIN = "0" * 32


@functools.lru_cache(maxsize=4096)
def _format(source: str, template: str) -> str:
    return format_code(source, template)


def _format_ignoring_input_hash(source: str, template: str) -> str:
    """black's output, memoized by the text with its `# Input hash:` comment set aside (the hash
    changes with every edit of a description the module depends on; black never changes that
    comment line, so the result is the same with the hash put back)."""
    found = _INPUT_HASH.search(source)
    if found is None:
        return _format(source, template)
    formatted = _format(
        _INPUT_HASH.sub(f"# Input hash: {_HASH_STANDIN}", source, count=1), template
    )
    return formatted.replace(f"# Input hash: {_HASH_STANDIN}", f"# Input hash: {found.group(1)}", 1)


def snapshot(root: Path) -> dict[str, bytes]:
    """generated/ (bytecode aside), README.md and any stray file beside them, by relative path."""
    files = {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / "generated").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    files[README.as_posix()] = (root / README).read_bytes()
    for stray in root.iterdir():  # staging folders or temporary files left behind
        if stray.name not in {"generated", "schemas", "README.md"}:
            files[f"stray:{stray.name}"] = b""
    return files


class Workspace:
    """A project copy (schemas/, generated/, README.md) that inputs are applied to in turn."""

    def __init__(self, folder: Path) -> None:
        speed_up()
        self.root = folder
        shutil.copytree(ROOT / "schemas", folder / "schemas")
        shutil.copytree(
            ROOT / "generated", folder / "generated", ignore=shutil.ignore_patterns("__pycache__")
        )
        shutil.copyfile(ROOT / README, folder / README)
        self.schemas = folder / "schemas"
        self.descriptions = self.schemas / "megatron_core"
        self.originals = {p.name: p.read_bytes() for p in self.descriptions.glob("*.json")}
        self.baseline = {p.as_posix(): t for p, t in generate_files(self.schemas, folder).items()}
        assert self.baseline == {
            k: v.decode() for k, v in snapshot(folder).items()
        }, "generated/ or README.md is not up to date: run `python -m generator generate` first"

    def run(self, mutated: MutatedInput) -> Outcome:
        written, duplicated_key = mutated.files()
        for name, data in written.items():
            (self.descriptions / name).write_bytes(data)
        try:
            return self._check(mutated, written, duplicated_key)
        finally:
            for name in written:
                if name in self.originals:
                    (self.descriptions / name).write_bytes(self.originals[name])
                else:
                    (self.descriptions / name).unlink()

    def _check(
        self, mutated: MutatedInput, written: dict[str, bytes], duplicated_key: bool
    ) -> Outcome:
        outcome = Outcome()

        def defect(category: str, signature: str, detail: str) -> Outcome:
            outcome.defects.append(Defect(category, signature, detail, mutated.describe()))
            return outcome

        before = snapshot(self.root)
        try:
            output = generate_output(self.schemas, self.root)
        except DescriptionErrors as errors:
            outcome.error_count = len(errors.errors)
            for problem in unclear(errors.errors, written):
                defect("unclear_error", problem.split(":")[0], problem)
            if snapshot(self.root) != before:
                defect(
                    "partial_write",
                    "rejected input changed files",
                    _changed(before, snapshot(self.root)),
                )
            return outcome
        except Exception as error:  # the property: nothing but DescriptionErrors
            return defect(
                "traceback", _where(error), "".join(traceback.format_exception(error))[-3000:]
            )
        files, outcome.origins = output.files, output.origins
        outcome.accepted = True
        if duplicated_key:
            defect("duplicate_key_accepted", "a key written twice in one object was accepted", "")
        try:
            compare(self.root, files)
            write_atomically(self.root, files)
        except Exception as error:
            return defect(
                "traceback", _where(error), "".join(traceback.format_exception(error))[-3000:]
            )
        expected = {p.as_posix(): t.encode() for p, t in files.items()}
        if snapshot(self.root) != expected:
            defect(
                "partial_write",
                "written tree differs from the generated files",
                _changed(expected, snapshot(self.root)),
            )
        texts = {p.as_posix(): t for p, t in files.items()}
        outcome.changed = {
            p: t for p, t in texts.items() if p.endswith(".py") and self.baseline.get(p) != t
        }
        for path, text in sorted(outcome.changed.items()):  # the baseline compiles (a test says so)
            problem = compile_problem(text, path)
            if problem is not None:
                defect(problem[0], problem[1], f"{path}: {problem[2]}")
        outcome.removed = tuple(
            sorted(p for p in self.baseline if p.endswith(".py") and p not in texts)
        )
        return outcome


def compile_problem(text: str, path: str) -> tuple[str, str, str] | None:
    """(category, signature, detail) when `text` does not compile cleanly (SyntaxWarning counts),
    calls code that only an escaped hostile string would put there, or is not black's fixed point
    (format_code skips black's second pass where it cannot change anything: this holds it to
    black's own result)."""
    return _compile_problem(_INPUT_HASH.sub(f"# Input hash: {_HASH_STANDIN}", text, count=1), path)


@functools.lru_cache(maxsize=4096)
def _compile_problem(text: str, path: str) -> tuple[str, str, str] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tree = ast.parse(text, path)
            compile(tree, path, "exec")
    except (SyntaxError, SyntaxWarning, ValueError) as error:
        return "compile_error", f"{type(error).__name__}: {str(error).split('(')[0]}", str(error)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in _INJECTED_NAMES:
            return (
                "injection",
                f"name {node.id} in code",
                f"line {node.lineno}: {ast.get_source_segment(text, node)}",
            )
    if black.format_str(text, mode=MODE) != text:
        return "black_unstable", "black reformats generated code", "not black's fixed point"
    return None


def _where(error: BaseException) -> str:
    """Exception type and the innermost generator frame: the same fault gives the same text."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/generator/" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno} ({frame.name})"


def _changed(before: dict[str, bytes], after: dict[str, bytes]) -> str:
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return "changed: " + ", ".join(keys[:10])


def _resolves(document: Any, location: str) -> bool:
    if location == "":
        return True
    node = document
    for raw in location.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def unclear(errors: list[DescriptionError], written: dict[str, bytes]) -> list[str]:
    """Why errors are not clear: each must name a description file, a JSON pointer that
    resolves in it, a message and what to do, each on one line."""
    if not errors:
        return ["empty: DescriptionErrors without errors"]
    problems: list[str] = []
    for error in errors:
        shown = f"{error.file}: {error.pointer}: {error.message[:120]!r}"
        name = error.file.removeprefix(DESCRIPTION_DIR + "/")
        if error.file == README.as_posix():
            continue  # the README's own error (missing markers) cannot come from a description
        if not error.file.startswith(DESCRIPTION_DIR + "/") or name not in (
            written.keys() | corpus().keys()
        ):
            problems.append(f"no file: {shown}")
            continue
        if not isinstance(error.pointer, str) or not (
            error.pointer == "" or error.pointer.startswith("/")
        ):
            problems.append(f"no JSON pointer: {shown}")
            continue
        try:
            document = json.loads(written[name]) if name in written else corpus()[name]
        except (ValueError, UnicodeDecodeError):
            document = None
        if document is None and error.pointer != "":
            problems.append(f"pointer into unreadable JSON: {shown}")
        elif document is not None and not _resolves(document, error.pointer):
            problems.append(f"pointer does not resolve: {shown}")
        for part, text in (("message", error.message), ("fix", error.fix)):
            if not text.strip():
                problems.append(f"no {part}: {shown}")
            elif any(ord(c) < 32 or c in "\x7f\u2028\u2029\u0085" for c in text):
                problems.append(f"raw control character in {part}: {shown}")
    return problems


def content_hash(texts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path, text in sorted(texts.items()):
        digest.update(path.encode() + b"\0" + text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()
