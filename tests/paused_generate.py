"""`python -m tests.paused_generate --signals DIR [options] -- [generate's options]`:
`python -m generator generate` in this process, with test-side hooks, for tests that interrupt
or race runs.

- `--pause POINT`: at POINT the run writes `DIR/paused` and waits until `DIR/resume` exists (a
  signal sent meanwhile hits it there). POINTs: `write` before the write (the generation done,
  compared, not yet waiting for the lock; lets tests start several writes at once); `staged:K` after the K-th file written into the
  staging folder; `swap` right before the swap (everything staged, the write lock held);
  `after-swap` inside the swap, generated/ swapped and README.md not yet; `backup` between the
  two renames of the fallback swap (with `--fallback`).
- `DIR/waiting` is written when the run first asks for the write lock, `DIR/locked` once it has it.
- `--files JSON`: the pipeline's output is this {path: text} instead of a generation (no
  schemas are read, no black: a run takes ~2 s instead of ~12 s).
- `--fallback`: as where renameat2 is unavailable (two renames instead of one exchange).
- The files the run generated are recorded in `DIR/generated.json`.
- `DIR/signalled` is written when a signal handler the run installed has run (Ctrl-C held back).

The test side: `start` (one such run), `wait_for` (its signal files), `snapshot` (what a run
writes), `save` (as `--files`), `leftovers`.
"""

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from generator import cli, output
from generator.commands import generate_full
from generator.output import STAGING_PREFIX
from generator.pipeline import Output
from tests.generator_runs import ROOT, tree


def start(
    root: Path,
    signals: Path,
    *,
    pause: str | None = None,
    files: Path | None = None,
    fallback: bool = False,
    schemas: Path | None = None,
    no_cache: bool = False,
) -> subprocess.Popen[str]:
    """`python -m generator generate --root root` through this module, in the background.

    A run with `files` still records them as made from the root's descriptions (the no-op stamp
    in .cache/generator/): give `no_cache` where another run's `files` differ."""
    signals.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tests.paused_generate", "--signals", str(signals)]
    command += ["--pause", pause] if pause else []
    command += ["--files", str(files)] if files else []
    command += ["--fallback"] if fallback else []
    command += ["--descriptions", str(schemas)] if schemas else []
    # These runs test writing: pyright on their (new) output is generator.typecheck's subject.
    command += ["--", "--root", str(root), "--no-typecheck"]
    command += ["--no-cache"] if no_cache else []
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(signal_file: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the run writes `signal_file`; fails if it ends first or takes over `timeout` s."""
    deadline = time.monotonic() + timeout
    while not signal_file.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(
                f"ended ({process.returncode}) before {signal_file.name}:\n{out}{err}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no {signal_file} after {timeout} s")
        time.sleep(0.01)


def snapshot(root: Path) -> dict[str, bytes]:
    """generated/ and README.md (when there is one), by path relative to the root."""
    files = {f"generated/{path}": data for path, data in tree(root / "generated").items()}
    readme = root / "README.md"
    return files | ({"README.md": readme.read_bytes()} if readme.exists() else {})


def save(path: Path, files: dict[str, bytes]) -> Path:
    """`files` as the JSON that `--files` reads; returns `path`."""
    path.write_text(json.dumps({name: data.decode() for name, data in files.items()}))
    return path


def leftovers(root: Path) -> list[str]:
    """What a run may leave in the root while it writes: staging folders, the lock file,
    temporary copies of README.md."""
    return sorted(
        p.name for p in root.iterdir() if p.name.startswith((STAGING_PREFIX, ".README.md."))
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.paused_generate")
    parser.add_argument("--signals", type=Path, required=True)
    parser.add_argument("--pause")
    parser.add_argument("--files", type=Path)
    parser.add_argument("--fallback", action="store_true")
    # Another schemas/ folder to generate from, while writing into --root (`generate` reads the
    # bundled descriptions from the root's schemas/).
    parser.add_argument("--descriptions", type=Path)
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    signals: Path = options.signals
    point: str | None = options.pause
    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even where this process was started with
    # SIGINT ignored (a background job of a non-interactive shell, nohup).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def pause() -> None:
        (signals / "paused").touch()
        while not (signals / "resume").exists():
            time.sleep(0.01)

    real_generate_output = generate_full.generate_output

    def generate_output(schemas_dir: Path, root: Path, *args: Any) -> Output:
        if options.files is None:
            made = real_generate_output(options.descriptions or schemas_dir, root, *args)
        else:
            files = {Path(p): t for p, t in json.loads(options.files.read_text()).items()}
            made = Output(files, {})
        record = {path.as_posix(): text for path, text in made.files.items()}
        (signals / "generated.json").write_text(json.dumps(record))
        return made

    generate_full.generate_output = generate_output

    real_flock = fcntl.flock

    def flock(descriptor: int, operation: int) -> None:
        (signals / "waiting").touch()
        real_flock(descriptor, operation)
        (signals / "locked").touch()

    fcntl.flock = flock

    real_signal = signal.signal

    def install(number: int, handler: Any) -> Any:
        if not callable(handler):
            return real_signal(number, handler)

        def handle(number: int, frame: Any) -> Any:
            result = handler(number, frame)
            (signals / "signalled").touch()
            return result

        return real_signal(number, handle)

    signal.signal = install  # type: ignore[assignment]

    if options.fallback:
        output._renameat2 = lambda: None  # type: ignore[assignment]

    if point is not None and point.startswith("staged:"):
        count = int(point.removeprefix("staged:"))
        real_write_text = Path.write_text
        staged: list[Path] = []

        def write_text(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
            written = real_write_text(self, data, *args, **kwargs)
            if any(part.startswith(STAGING_PREFIX) for part in self.parts):
                staged.append(self)
                if len(staged) == count:
                    pause()
            return written

        Path.write_text = write_text  # type: ignore[method-assign]
    elif point == "write":
        real_write_atomically = generate_full.write_atomically

        def write_atomically(root: Path, files: dict[Path, str]) -> None:
            pause()
            real_write_atomically(root, files)

        generate_full.write_atomically = write_atomically
    elif point == "swap":
        real_held_back: Callable[[], AbstractContextManager[None]] = output._sigint_held_back

        @contextmanager
        def held_back() -> Generator[None]:
            pause()
            with real_held_back():
                yield

        output._sigint_held_back = held_back
    elif point == "after-swap":
        real_swap = output._swap

        def swap(new_tree: Path, output_dir: Path, backup: Path) -> None:
            real_swap(new_tree, output_dir, backup)
            pause()

        output._swap = swap
    elif point == "backup":
        real_rename = os.rename

        def rename(source: Any, destination: Any, **kwargs: Any) -> None:
            real_rename(source, destination, **kwargs)
            if Path(destination).name == "old":
                pause()

        os.rename = rename
    elif point is not None:
        parser.error(f"unknown pause point {point}")

    arguments: list[str] = options.arguments
    return cli.main(["generate", *(arguments[1:] if arguments[:1] == ["--"] else arguments)])


if __name__ == "__main__":
    sys.exit(main())
