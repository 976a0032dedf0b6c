"""Type-checks many accepted outputs with few pyright runs.

Each accepted output (a variant) is the baseline generated/ with some files changed or removed.
A file's pyright result depends only on its code and the code of the package files it imports
(the libraries are the same for all), so each file gets a key: a hash of its syntax tree, with
docstrings and comments set aside, and of the trees of every package file it imports, directly
or not. Files whose key the baseline (pyright-clean, a project gate) or an earlier check already
has are skipped; the rest are checked in batches: each variant in its own folder, a pyright
execution environment rooted there (so its relative imports resolve to its own files), one
pyright run per batch.
"""

import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from generator.model import Location
from generator.typecheck import source_keys
from tests.pyright_runner import run_pyright

PACKAGE = "generated/megatron_core"


@dataclass(frozen=True)
class Variant:
    """An accepted output: the baseline with `changed` files (path -> text) and `removed` ones."""

    label: str  # the input that produced it
    changed: dict[str, str]
    removed: tuple[str, ...] = ()
    origins: dict[str, Location] = field(default_factory=dict[str, Location])  # generated names
    written: dict[str, bytes] = field(default_factory=dict[str, bytes])  # the mutated descriptions

    def files(self, baseline: dict[str, str]) -> dict[str, str]:
        texts = {p: t for p, t in baseline.items() if p.endswith(".py") and p not in self.removed}
        texts.update(self.changed)
        return texts


@dataclass(frozen=True)
class TypeError_:
    variant: str  # label
    file: str  # relative path inside the variant
    line: int
    rule: str
    message: str


@dataclass
class TypeChecker:
    """Remembers which file keys are known clean; checks the rest of each batch with pyright."""

    baseline: dict[str, str]
    clean: set[str] = field(default_factory=set[str])
    checked_files: int = 0
    pyright_runs: int = 0

    def __post_init__(self) -> None:
        self.clean.update(file_keys(self.baseline).values())

    def pending(self, variant: Variant) -> dict[str, str]:
        """The variant's files (path -> key) whose key is not known clean."""
        keys = file_keys(variant.files(self.baseline))
        return {path: key for path, key in keys.items() if key not in self.clean}

    def check(
        self, variants: Iterable[Variant], batch_size: int = 60, jobs: int = 1
    ) -> list[TypeError_]:
        """pyright strict on every pending file of `variants` (`jobs` pyright runs at a time);
        their keys become known clean unless a file has errors."""
        pending: list[tuple[Variant, dict[str, str]]] = []
        batched: set[str] = set()
        for variant in variants:
            todo = {p: k for p, k in self.pending(variant).items() if k not in batched}
            if todo:
                batched.update(todo.values())
                pending.append((variant, todo))
        size = min(batch_size, -(-len(pending) // max(1, jobs)))  # every job gets a batch
        batches = [pending[i : i + size] for i in range(0, len(pending), max(1, size))]
        with ThreadPoolExecutor(max(1, jobs)) as pool:  # each run is a pyright subprocess
            results = list(pool.map(self._run, batches))
        return [error for errors in results for error in errors]

    def _run(self, batch: list[tuple[Variant, dict[str, str]]]) -> list[TypeError_]:
        with tempfile.TemporaryDirectory(prefix="fuzz-pyright-") as temporary:
            folder = Path(temporary)
            include: list[str] = []
            for index, (variant, todo) in enumerate(batch):
                for path, text in variant.files(self.baseline).items():
                    target = folder / f"v{index}" / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(text, encoding="utf-8", errors="surrogatepass")
                include += [f"v{index}/{path}" for path in sorted(todo)]
            roots = [f"v{i}" for i in range(len(batch))]
            diagnostics, _ = run_pyright(folder, include=include, roots=roots)
        self.pyright_runs += 1
        self.checked_files += len(include)
        errors: list[TypeError_] = []
        failed: set[tuple[int, str]] = set()
        for diagnostic in diagnostics:
            relative = Path(diagnostic.file).relative_to(folder)
            index = int(relative.parts[0].removeprefix("v"))
            path = Path(*relative.parts[1:]).as_posix()
            failed.add((index, path))
            errors.append(
                TypeError_(
                    batch[index][0].label,
                    path,
                    diagnostic.line,
                    diagnostic.rule,
                    diagnostic.message,
                )
            )
        for index, (_, todo) in enumerate(batch):
            self.clean.update(key for path, key in todo.items() if (index, path) not in failed)
        return errors


def file_keys(texts: dict[str, str]) -> dict[str, str]:
    """Package file path -> hash of its tree and of the trees of the package files it imports."""
    return source_keys(texts, PACKAGE)
