"""A fuzzing campaign: shards of seeded hypothesis runs over mutated descriptions, then pyright
on the distinct accepted outputs, and a summary.

`python -m tests.fuzz --inputs 10000` (what `make fuzz` runs) or `run_campaign(...)` (CI's small
budget in tests/test_fuzz.py).
"""

import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from generator.typecheck import PyrightError, locate
from tests.fuzz.harness import Defect, Workspace, content_hash, unclear
from tests.fuzz.mutations import KINDS, ROOT, MutatedInput, mutated_inputs
from tests.fuzz.typecheck import TypeChecker, TypeError_, Variant, file_keys


@dataclass
class KindCount:
    inputs: int = 0
    accepted: int = 0
    rejected: int = 0
    defects: int = 0


@dataclass
class ShardResult:
    inputs: int = 0
    distinct: set[str] = field(default_factory=set[str])  # hashes of the mutated files
    accepted: int = 0
    rejected: int = 0
    errors: int = 0  # DescriptionError count over rejected inputs
    by_kind: dict[str, KindCount] = field(default_factory=dict[str, KindCount])
    defects: list[Defect] = field(default_factory=list[Defect])
    variants: list[Variant] = field(default_factory=list[Variant])  # accepted, new file keys
    variant_kinds: dict[str, list[str]] = field(default_factory=dict[str, list[str]])
    seconds: float = 0.0


def run_shard(shard_seed: int, budget: int, progress: bool = False) -> ShardResult:
    """`budget` mutated inputs drawn with `shard_seed`, each run through the pipeline."""
    result = ShardResult(by_kind={kind: KindCount() for kind in KINDS})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        workspace = Workspace(Path(folder))
        seen_keys = set(file_keys(workspace.baseline).values())
        seen_outputs: set[str] = set()

        @seed(shard_seed)
        @settings(
            max_examples=budget,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(mutated_inputs())
        def fuzz(mutated: MutatedInput) -> None:
            outcome = workspace.run(mutated)
            result.inputs += 1
            written, _ = mutated.files()
            result.distinct.add(content_hash({k: v.decode("latin-1") for k, v in written.items()}))
            for kind in set(mutated.kinds):
                count = result.by_kind[kind]
                count.inputs += 1
                count.accepted += outcome.accepted
                count.rejected += not outcome.accepted
                count.defects += bool(outcome.defects)
            result.accepted += outcome.accepted
            result.rejected += not outcome.accepted
            result.errors += outcome.error_count
            result.defects.extend(outcome.defects)
            if outcome.accepted and (outcome.changed or outcome.removed):
                output = content_hash(outcome.changed | {p: "" for p in outcome.removed})
                if output not in seen_outputs:
                    seen_outputs.add(output)
                    variant = Variant(
                        mutated.describe(),
                        outcome.changed,
                        outcome.removed,
                        outcome.origins,
                        written,
                    )
                    keys = set(file_keys(variant.files(workspace.baseline)).values())
                    if keys - seen_keys:  # something pyright has not seen yet
                        seen_keys.update(keys)
                        result.variants.append(variant)
                        result.variant_kinds[variant.label] = sorted(set(mutated.kinds))
            if progress and result.inputs % 100 == 0:
                rate = result.inputs / (time.perf_counter() - started)
                print(
                    f"  shard {shard_seed}: {result.inputs}/{budget} inputs, "
                    f"{result.accepted} accepted, {len(result.defects)} defects, {rate:.2f}/s",
                    file=sys.stderr,
                    flush=True,
                )

        fuzz()
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class Summary:
    inputs: int
    distinct_inputs: int
    accepted: int
    rejected: int
    errors: int
    distinct_outputs: int  # accepted outputs with files pyright had not seen (deduplicated)
    typecheck_rejected: int  # of those, refused by generate's pyright stage, each error located
    pyright_files: int
    pyright_runs: int
    by_kind: dict[str, KindCount]
    defects: list[Defect]
    seconds: float
    fuzz_seconds: float
    pyright_seconds: float

    def render(self) -> str:
        lines = [
            f"inputs run: {self.inputs} ({self.distinct_inputs} distinct)",
            f"passed validation: {self.accepted} ({self.distinct_outputs} outputs with new code; "
            f"{self.pyright_files} files checked by pyright strict in {self.pyright_runs} runs)",
            f"  of those outputs, refused by generate's pyright stage with located errors: "
            f"{self.typecheck_rejected}",
            f"rejected by validation with clear errors: {self.rejected} ({self.errors} errors)",
            f"defects: {len(self.defects)}",
            f"time: {self.seconds:.0f} s ({self.fuzz_seconds:.0f} s fuzzing, "
            f"{self.pyright_seconds:.0f} s pyright)",
            "",
            f"{'mutation kind':<20}{'inputs':>8}{'accepted':>10}{'rejected':>10}{'defects':>9}",
        ]
        for kind, count in self.by_kind.items():
            lines.append(
                f"{kind:<20}{count.inputs:>8}{count.accepted:>10}{count.rejected:>10}{count.defects:>9}"
            )
        groups: dict[tuple[str, str], list[Defect]] = {}
        for defect in self.defects:
            groups.setdefault((defect.category, defect.signature), []).append(defect)
        for (category, signature), found in sorted(groups.items()):
            lines += ["", f"DEFECT {category}: {signature} ({len(found)} inputs)"]
            lines += [
                f"  input: {found[0].input}",
                *(f"  {line}" for line in found[0].detail.splitlines()[-12:]),
            ]
        return "\n".join(lines)


def run_campaign(
    inputs: int, *, jobs: int = 1, base_seed: int = 0, progress: bool = False
) -> Summary:
    """`inputs` mutated inputs in `jobs` shards (seeds base_seed, base_seed + 1, ...), then pyright."""
    started = time.perf_counter()
    budgets = [inputs // jobs + (i < inputs % jobs) for i in range(jobs)]
    if jobs == 1:
        shards = [run_shard(base_seed, inputs, progress)]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = [
                pool.submit(run_shard, base_seed + i, b, progress) for i, b in enumerate(budgets)
            ]
            shards = [future.result() for future in futures]
    fuzzed = time.perf_counter()
    by_kind = {kind: KindCount() for kind in KINDS}
    defects: list[Defect] = []
    variants: list[Variant] = []
    kinds_of: dict[str, list[str]] = {}
    for shard in shards:
        for kind, count in shard.by_kind.items():
            total = by_kind[kind]
            total.inputs += count.inputs
            total.accepted += count.accepted
            total.rejected += count.rejected
            total.defects += count.defects
        defects += shard.defects
        variants += shard.variants
        kinds_of.update(shard.variant_kinds)
    checker = TypeChecker(_baseline())
    if progress:
        print(
            f"  pyright: {len(variants)} accepted outputs with new code",
            file=sys.stderr,
            flush=True,
        )
    # What `generate` does with pyright's errors (generator.typecheck): each must be located at
    # the description element that generated the code, clearly; else it is a defect.
    by_variant: dict[str, list[TypeError_]] = {}
    for error in checker.check(variants, jobs=jobs):
        by_variant.setdefault(error.variant, []).append(error)
    labelled = {variant.label: variant for variant in variants}
    typecheck_rejected = 0
    for label, errors in by_variant.items():
        variant = labelled[label]
        found = [PyrightError(e.file, e.line, e.rule, e.message) for e in errors]
        unlocated = [
            (error, located.error)
            for error, located in zip(
                errors, locate(found, variant.files(checker.baseline), variant.origins), strict=True
            )
            if not located.exact or unclear([located.error], variant.written)
        ]
        if not unlocated:
            typecheck_rejected += 1
            continue
        for error, described in unlocated:
            signature = f"{error.rule}: {error.message.splitlines()[0]}"
            detail = (
                f"{error.file}:{error.line}: {error.rule}: {error.message}\n"
                f"located at {described.file}: {described.pointer or '/'}"
            )
            defects.append(Defect("pyright_unlocated", signature, detail, label))
        for kind in kinds_of.get(label, []):
            by_kind[kind].defects += 1
    finished = time.perf_counter()
    return Summary(
        inputs=sum(s.inputs for s in shards),
        distinct_inputs=len(set().union(*(s.distinct for s in shards))),
        accepted=sum(s.accepted for s in shards),
        rejected=sum(s.rejected for s in shards),
        errors=sum(s.errors for s in shards),
        distinct_outputs=len(variants),
        typecheck_rejected=typecheck_rejected,
        pyright_files=checker.checked_files,
        pyright_runs=checker.pyright_runs,
        by_kind=by_kind,
        defects=defects,
        seconds=finished - started,
        fuzz_seconds=fuzzed - started,
        pyright_seconds=finished - fuzzed,
    )


def _baseline() -> dict[str, str]:
    """The committed generated/ (Workspace checks that it is what the descriptions generate)."""
    return {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "generated").rglob("*.py"))
        if "__pycache__" not in path.parts
    }
