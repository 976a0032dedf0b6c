"""Stage 6: pyright strict on the formatted modules whose code is new, each error located in the
description element that generated the code it is in.

Validation checks what descriptions say against each other and against names in megatron-core's
source; whether the generated code agrees with megatron-core's annotations (an implementation
offers its Interface, a Builder matches upstream's hand-written Protocol, an argument has the
type its parameter takes) is pyright's to decide. This stage asks it before anything is written,
so a description that disagrees with upstream is an error naming the description, not a CI
failure in generated code.

Only code that is new is checked: a module's key hashes its syntax tree (docstrings and comments
aside: they do not change types) with the trees of the package modules it imports, and modules
whose key the current output already has are skipped: the output passed this stage when it was
written, and CI's pyright gate checks what is committed.
"""

import ast
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from generator import naming
from generator.errors import DescriptionError
from generator.model import Location
from generator.validate import Catalog

_SOURCE_LINE = re.compile(r"^#   (\S+\.json)$", re.MULTILINE)  # the header lists descriptions


@dataclass(frozen=True)
class PyrightError:
    file: str  # relative to the checked tree's root
    line: int  # 1-based
    rule: str
    message: str


@dataclass(frozen=True)
class Located:
    """A pyright error as a description error; `exact` when a described element generated the
    code it is in (else the error names only the module's first description)."""

    error: DescriptionError
    exact: bool


def origins(catalog: Catalog) -> dict[str, Location]:
    """Generated name -> where it was described: Protocols and their members, adapters, spec
    factories and values, parents' typed Submodules and lifted subclasses, roles, providers."""
    found: dict[str, Location] = {}
    for description in catalog.descriptions:
        for interface in description.interfaces:
            found[interface.name] = interface.location
            for member in (*interface.methods, *interface.attributes):
                found[f"{interface.name}.{member.name}"] = member.location
        for builder in description.builders:
            found[builder.name] = builder.location
        for spec in description.specs:
            found[spec.name] = spec.location
        for value in description.values:
            found[value.name] = value.location
        for role in description.roles:
            found[role.name] = role.location
        if description.parent is not None:
            parent = description.parent
            found[naming.submodules_constructor_name(parent.submodules)] = parent.location
            if parent.lifted is not None:
                found[naming.lifted_class_name(parent.class_name)] = parent.location
                lifted = naming.lifted_submodules_name(parent.class_name)
                found[lifted] = parent.location
                found[naming.submodules_constructor_name(lifted)] = parent.location
        if description.providers is not None:
            providers = description.providers
            for name in providers.generated_names:
                found[name] = providers.location
            for method in providers.methods:
                found[f"{providers.protocol}.{method.name}"] = method.location
            for provider in providers.classes:
                found[provider.name] = provider.location
                for factory in provider.methods:
                    found[f"{provider.name}.{factory.name}"] = factory.location
    for name, adapter in catalog.adapters.items():
        found[name] = adapter.implementation.location
        found[naming.typed_binding_name(adapter.implementation)] = adapter.implementation.location
    return found


def source_keys(texts: Mapping[str, str], package_dir: str) -> dict[str, str]:
    """Path -> key of each module under `package_dir` (paths relative to one root, `/`-separated):
    a hash of its tree and of the trees of the package modules it imports, directly or not."""
    package = {p: t for p, t in texts.items() if p.startswith(package_dir + "/")}
    facts = {path: _facts(text) for path, text in package.items()}
    keys: dict[str, str] = {}
    for path in package:
        closure: set[str] = set()
        pending = [path]
        while pending:
            current = pending.pop()
            if current in closure or current not in facts:
                continue
            closure.add(current)
            pending.extend(f"{package_dir}/{module}.py" for module in facts[current][1])
        digest = hashlib.sha256(path.encode())
        for member in sorted(closure):
            digest.update(b"\0" + member.encode() + b"\0" + facts[member][0].encode())
        keys[path] = digest.hexdigest()
    return keys


@lru_cache(maxsize=8192)
def _facts(text: str) -> tuple[str, frozenset[str]]:
    """(hash of the tree without docstrings, with pyright's comment directives; the package
    modules it imports relatively)."""
    tree = ast.parse(text)
    directives = [line for line in text.splitlines() if "# pyright:" in line or "# type:" in line]
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    body[0].value.value = ""  # a docstring's text does not affect types
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:
                imported.update(alias.name for alias in node.names)
            else:
                imported.add(node.module.split(".")[0])
    digest = hashlib.sha256(ast.dump(tree).encode())
    digest.update("\n".join(directives).encode("utf-8", "surrogatepass"))
    return digest.hexdigest(), frozenset(imported)


def new_modules(
    files: Mapping[str, str], current: Mapping[str, str], package_dir: str
) -> list[str]:
    """The modules of `files` (the output about to be written) whose key `current` (the output
    on disk) does not have."""
    known = set(source_keys(current, package_dir).values())
    return sorted(p for p, k in source_keys(files, package_dir).items() if k not in known)


def run_pyright(
    files: Mapping[str, str], include: Iterable[str], extra_paths: Iterable[Path] = ()
) -> list[PyrightError]:
    """pyright strict (this interpreter's environment) on `include`, the other `files` (path
    relative to a root -> text) beside them for imports. Raises PyrightUnavailable."""
    include = sorted(include)
    with tempfile.TemporaryDirectory(prefix="generator-typecheck-") as temporary:
        folder = Path(temporary)
        for path, text in files.items():
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", errors="surrogatepass")
        prefix = Path(sys.prefix)
        config = {
            "typeCheckingMode": "strict",
            "reportMissingTypeStubs": False,
            "pythonVersion": f"{sys.version_info.major}.{sys.version_info.minor}",
            "venvPath": str(prefix.parent),
            "venv": prefix.name,
            "include": include,
            "extraPaths": [str(p) for p in extra_paths],
        }
        (folder / "pyrightconfig.json").write_text(json.dumps(config))
        try:
            completed = subprocess.run(
                [sys.executable, "-m", "pyright", "--outputjson"],
                cwd=folder,
                capture_output=True,
                text=True,
            )
        except OSError as error:
            raise PyrightUnavailable(str(error)) from None
        try:
            report = json.loads(completed.stdout)
            analyzed = report["summary"]["filesAnalyzed"]
        except (ValueError, KeyError, TypeError):
            raise PyrightUnavailable(completed.stderr[-500:] or completed.stdout[-500:]) from None
        if analyzed < len(include):
            raise PyrightUnavailable(f"it analyzed {analyzed} of {len(include)} modules")
        return [
            PyrightError(
                Path(d["file"]).relative_to(folder).as_posix(),
                d["range"]["start"]["line"] + 1,
                d.get("rule", ""),
                d["message"],
            )
            for d in report["generalDiagnostics"]
            if d["severity"] == "error"
        ]


class PyrightUnavailable(Exception):
    """pyright could not be run, or did not analyze what it was given."""


def locate(
    errors: Iterable[PyrightError], files: Mapping[str, str], found: Mapping[str, Location]
) -> list[Located]:
    """Each pyright error as a description error at the element that generated the code it is
    in: the innermost described name (a Protocol member, then its Protocol, an adapter, a spec
    factory) around its line; else the first description the module's header lists."""
    located: list[Located] = []
    for error in errors:
        text = files.get(error.file, "")
        names = _enclosing(text, error.line)
        where = next((found[n] for n in names if n in found), None)
        shown = names[0] if names else Path(error.file).stem
        detail = "; ".join(line.strip() for line in error.message.splitlines() if line.strip())
        message = (
            f"the code generated for {shown} ({error.file}:{error.line}) fails pyright strict "
            f"({error.rule or 'error'}): {detail}"
        )
        fix = "make the description agree with the annotations of what it describes (its source)"
        if where is None:
            sources = _SOURCE_LINE.findall(text)
            file = sources[0] if sources else error.file
            located.append(Located(DescriptionError(file, "", message, fix), False))
        else:
            located.append(Located(DescriptionError(where.file, where.pointer, message, fix), True))
    return located


def _enclosing(text: str, line: int) -> list[str]:
    """The names around `line`, innermost first: `Class.method`, then `Class` (or a top-level
    function or assignment)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    for node in tree.body:
        end = getattr(node, "end_lineno", None) or node.lineno
        if not node.lineno <= line <= end:
            continue
        match node:
            case ast.ClassDef(name=name, body=body):
                members = [
                    f"{name}.{member}"
                    for member, start, end in _members(body)
                    if start <= line <= end
                ]
                return [*members, name]
            case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name):
                return [name]
            case ast.Assign(targets=[ast.Name(id=name)]) | ast.AnnAssign(target=ast.Name(id=name)):
                return [name]
            case _:
                return []
    return []


def _members(body: list[ast.stmt]) -> Iterable[tuple[str, int, int]]:
    """(name, first line, last line) of a class body's methods and annotated attributes."""
    for member in body:
        match member:
            case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name):
                yield name, member.lineno, member.end_lineno or member.lineno
            case ast.AnnAssign(target=ast.Name(id=name)):
                yield name, member.lineno, member.end_lineno or member.lineno
            case _:
                pass


def check_output(
    files: Mapping[str, str],
    base: Path,
    package_dir: str,
    found: Mapping[str, Location],
    extra_paths: Iterable[Path] = (),
) -> list[DescriptionError]:
    """Errors of the modules of `files` (paths relative to `base`) whose code the output now in
    `base / package_dir` does not have; none when there are no such modules. Raises
    PyrightUnavailable."""
    current = {
        path.relative_to(base).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((base / package_dir).glob("*.py"))
    }
    include = new_modules(files, current, package_dir)
    if not include:
        return []
    modules = {p: t for p, t in files.items() if p.endswith(".py")}
    errors = run_pyright(modules, include, extra_paths)
    return [located.error for located in locate(errors, modules, found)]
