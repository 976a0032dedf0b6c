"""Runtime cost of the typed specs, against upstream's own, measured side by side in one process.

    python -m bench.runtime [--repeats N] [--json | --markdown]

Three things a user of the generated specs pays for, each measured against upstream's same
factory called with the same arguments (the floor):

* spec construction: one call of a spec factory (the time of many calls per sample, divided);
* model construction: ``GPTModel(...)`` from the spec on the CPU, seeded so that both sides build
  the same parameters (checked once: same class tree, state_dict keys, order and values);
* one training step on the CPU: forward with labels (megatron's own loss, MTP losses included),
  mean, backward (checked once: the same loss and gradients, exactly).

Method: each pair of samples runs ours and upstream's back to back, in an order drawn from a
seeded generator, after warm-up runs of both; ``gc`` is collected before and off during each
sample; torch uses :data:`THREADS` threads. A row reports the median of each side, and as its
ratio the median of the per-pair ratios (ours over upstream's, the two samples of a pair taken back
to back): on a shared machine the load changes from second to second, which widens both sides'
spread alike but cancels within a pair. The detail gives a 95% bootstrap interval of that ratio
(the pairs resampled), which says how far it could move on a rerun, and the spread
(interquartile range over median) of each side and of the pair ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.report import print_rows
from bench.rows import BenchRow

with warnings.catch_warnings():
    # Importing megatron-core without Transformer Engine or Apex warns about its fallbacks.
    warnings.simplefilter("ignore")
    from megatron.core import parallel_state
    from megatron.core.models.gpt import gpt_layer_specs as upstream_specs
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.core.transformer.multi_token_prediction import (
        MultiTokenPredictionBlockSubmodules,
    )
    from megatron.core.transformer.spec_utils import ModuleSpec
    from megatron.core.transformer.transformer_block import TransformerBlockSubmodules
    from megatron.core.transformer.transformer_config import TransformerConfig

    from generated.megatron_core import gpt_specs as our_specs
    from generator.spec_tree import diff, normalize
    from tests.megatron_cpu import (
        cpu_shims,
        distributed_state,
        fresh_mtp_tracker,
        make_config,
        seed_everything,
    )

THREADS = 1
"""torch's intra-op threads for every run: one, so that the two sides never compete for cores
with each other's worker threads and a busy machine disturbs them as little as possible."""

ORDER_SEED = 8
"""Seed of the generator that orders each pair of samples and resamples them for the interval."""

MODEL_SEED = 1234
"""Weight-initialisation seed; both sides build with it, so their parameters are equal."""

DEFAULT_REPEATS = 100
"""Samples per side and row: about 1-2 minutes in all on a 2-core machine."""

SPEC_SAMPLE_S = 0.004
"""A spec-construction sample calls the factory this long (at least), measured on upstream's."""

WARMUP_SPEC = 2
WARMUP_BUILD = 2
WARMUP_STEP = 3

BOOTSTRAP_RESAMPLES = 2000

MODEL_GOAL = 1.02
"""Model construction and the training step: within 2% of upstream's (the issue's goal)."""

SPEC_GOAL = 5.0
"""Spec construction: the issue sets no number. A spec is built once per model, and the extra
microseconds per call are far below model construction's noise; this bound only catches a gross
regression (an accidental import, a source read or a check that scales with the model)."""

VOCAB_SIZE = 512
SEQ_LEN = 32
MICRO_BATCH = 2
MODEL_SIZES: Mapping[str, Any] = {
    "num_layers": 4,
    "hidden_size": 64,
    "num_attention_heads": 4,
    "ffn_hidden_size": 256,
}
"""A small GPT on the CPU: every layer kind runs, and Python overhead still shows in the time."""


class BenchError(Exception):
    """The two sides did not build or compute the same thing, so their times are not comparable."""


Sampler = Callable[[], float]
"""Runs one sample and returns its seconds (only the measured part)."""


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def relative_iqr(values: Sequence[float]) -> float:
    """The interquartile range over the median (0.05: the middle half lies within 5%)."""
    first, _, third = statistics.quantiles(values, n=4, method="inclusive")
    return (third - first) / statistics.median(values)


@dataclass(frozen=True)
class Comparison:
    """Paired samples of the two sides: ``ours[i]`` and ``upstream[i]`` ran back to back."""

    ours: tuple[float, ...]
    upstream: tuple[float, ...]

    @property
    def pair_ratios(self) -> list[float]:
        return [mine / theirs for mine, theirs in zip(self.ours, self.upstream, strict=True)]

    @property
    def ratio(self) -> float:
        """The median of the per-pair ratios (see :class:`BenchRow`'s ``paired_ratio``)."""
        return statistics.median(self.pair_ratios)

    def ratio_interval(self, rng: random.Random) -> tuple[float, float]:
        """95% bootstrap interval of :attr:`ratio` (the pairs resampled with replacement)."""
        ratios = self.pair_ratios
        medians = sorted(
            statistics.median(rng.choices(ratios, k=len(ratios)))
            for _ in range(BOOTSTRAP_RESAMPLES)
        )
        return medians[int(0.025 * len(medians))], medians[int(0.975 * len(medians)) - 1]

    def row(self, name: str, goal: float, rng: random.Random, note: str = "") -> BenchRow:
        low, high = self.ratio_interval(rng)
        spread = (
            f"95% CI {low:.3f}-{high:.3f}; n={len(self.ours)}; IQR/median "
            f"{relative_iqr(self.ours):.0%} ours, {relative_iqr(self.upstream):.0%} upstream, "
            f"{relative_iqr(self.pair_ratios):.0%} pair ratios"
        )
        return BenchRow(
            name=name,
            measured_s=statistics.median(self.ours),
            floor_name="upstream's",
            floor_s=statistics.median(self.upstream),
            goal=goal,
            detail=f"{note}; {spread}" if note else spread,
            paired_ratio=self.ratio,
        )


def interleaved(
    ours: Sampler, upstream: Sampler, *, repeats: int, warmup: int, rng: random.Random
) -> Comparison:
    """``warmup`` unrecorded runs of each, then ``repeats`` pairs, each pair in a random order."""
    for _ in range(warmup):
        ours()
        upstream()
    our_times: list[float] = []
    upstream_times: list[float] = []
    for _ in range(repeats):
        if rng.random() < 0.5:
            our_times.append(ours())
            upstream_times.append(upstream())
        else:
            upstream_times.append(upstream())
            our_times.append(ours())
    return Comparison(tuple(our_times), tuple(upstream_times))


@contextlib.contextmanager
def gc_paused() -> Generator[None]:
    """Collect now and keep the cyclic collector off for the block (as ``timeit`` does).

    Cheap because :func:`bench_environment` freezes everything allocated before the bench (torch
    and megatron hold millions of objects; a full collection of them takes 0.4 s)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` takes; what it returns is freed after the clock stops."""
    with gc_paused():
        start = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - start
    del result
    return elapsed


# --------------------------------------------------------------------------------------------
# Spec construction
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecCase:
    """One spec factory called the same way on both sides."""

    name: str
    ours: Callable[[], object]
    upstream: Callable[[], object]


def spec_config() -> TransformerConfig:
    """A 4-layer config with a MoE layer every second layer and one MTP layer."""
    return make_config(
        num_layers=4, num_moe_experts=4, moe_layer_freq=2, mtp_num_layers=1, normalization="RMSNorm"
    )


def spec_cases() -> list[SpecCase]:
    config = spec_config()
    our_block = our_specs.get_gpt_decoder_block_spec(config, use_transformer_engine=False)
    upstream_block = upstream_specs.get_gpt_decoder_block_spec(config, use_transformer_engine=False)
    return [
        SpecCase(
            "get_gpt_layer_local_spec()",
            our_specs.get_gpt_layer_local_spec,
            upstream_specs.get_gpt_layer_local_spec,
        ),
        SpecCase(
            "get_gpt_decoder_block_spec (4 layers, 2 MoE)",
            lambda: our_specs.get_gpt_decoder_block_spec(config, use_transformer_engine=False),
            lambda: upstream_specs.get_gpt_decoder_block_spec(config, use_transformer_engine=False),
        ),
        SpecCase(
            "get_gpt_mtp_block_spec (1 layer)",
            lambda: our_specs.get_gpt_mtp_block_spec(
                config, our_block, use_transformer_engine=False
            ),
            lambda: upstream_specs.get_gpt_mtp_block_spec(
                config, upstream_block, use_transformer_engine=False
            ),
        ),
    ]


def spec_difference(case: SpecCase) -> list[str]:
    """How the two factories' specs differ once normalized ([]: the same tree)."""
    return diff(normalize(case.ours()), normalize(case.upstream()))


def calls_per_sample(factory: Callable[[], object]) -> int:
    """How many calls make a sample of at least :data:`SPEC_SAMPLE_S` (doubling, like timeit)."""
    calls = 1
    while True:
        elapsed = timed(lambda: [factory() for _ in range(calls)])
        if elapsed >= SPEC_SAMPLE_S:
            return calls
        calls *= 2


def spec_sampler(factory: Callable[[], object], calls: int) -> Sampler:
    def sample() -> float:
        return timed(lambda: [factory() for _ in range(calls)]) / calls

    return sample


def measure_spec(case: SpecCase, repeats: int, rng: random.Random) -> BenchRow:
    difference = spec_difference(case)
    if difference:
        raise BenchError(f"{case.name}: ours and upstream's specs differ: {difference}")
    calls = calls_per_sample(case.upstream)
    comparison = interleaved(
        spec_sampler(case.ours, calls),
        spec_sampler(case.upstream, calls),
        repeats=repeats,
        warmup=WARMUP_SPEC,
        rng=rng,
    )
    return comparison.row(f"spec: {case.name}", SPEC_GOAL, rng, f"{calls} calls a sample")


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpecs:
    """What ``GPTModel`` takes from the spec factories."""

    layer: ModuleSpec | TransformerBlockSubmodules
    mtp: MultiTokenPredictionBlockSubmodules | None = None


@dataclass(frozen=True)
class ModelCase:
    """A GPTModel built from our specs and from upstream's, with the same config."""

    name: str
    config: Mapping[str, Any]
    """TransformerConfig fields over :data:`MODEL_SIZES` (what ``make_config`` takes)."""
    ours: Callable[[TransformerConfig], ModelSpecs]
    upstream: Callable[[TransformerConfig], ModelSpecs]
    steps: bool
    """Whether a training step runs on the CPU (megatron 0.19.2's MoE router needs CUDA)."""

    def make_config(self) -> TransformerConfig:
        return make_config(**{**MODEL_SIZES, **self.config})


def our_dense(config: TransformerConfig) -> ModelSpecs:
    return ModelSpecs(our_specs.get_gpt_layer_local_spec())


def upstream_dense(config: TransformerConfig) -> ModelSpecs:
    return ModelSpecs(upstream_specs.get_gpt_layer_local_spec())


def our_block(config: TransformerConfig) -> ModelSpecs:
    block = our_specs.get_gpt_decoder_block_spec(config, use_transformer_engine=False)
    return ModelSpecs(
        block, our_specs.get_gpt_mtp_block_spec(config, block, use_transformer_engine=False)
    )


def upstream_block(config: TransformerConfig) -> ModelSpecs:
    block = upstream_specs.get_gpt_decoder_block_spec(config, use_transformer_engine=False)
    mtp: MultiTokenPredictionBlockSubmodules | None = upstream_specs.get_gpt_mtp_block_spec(
        config, block, use_transformer_engine=False
    )
    return ModelSpecs(block, mtp)


MODEL_CASES: list[ModelCase] = [
    ModelCase("dense GPT", {}, our_dense, upstream_dense, steps=True),
    ModelCase("GPT + MTP", {"mtp_num_layers": 1}, our_block, upstream_block, steps=True),
    ModelCase(
        "MoE GPT",
        {"num_moe_experts": 4, "moe_layer_freq": 2},
        our_block,
        upstream_block,
        steps=False,
    ),
]


def build_model(specs: ModelSpecs, config: TransformerConfig, seed: int = MODEL_SEED) -> GPTModel:
    """A GPTModel on the CPU from ``specs``, its weights drawn after seeding with ``seed``."""
    seed_everything(seed)
    return GPTModel(
        config=config,
        # Annotated ModuleSpec; GPTModel hands it to TransformerBlock, which takes either.
        transformer_layer_spec=specs.layer,  # pyright: ignore[reportArgumentType]
        vocab_size=VOCAB_SIZE,
        max_sequence_length=SEQ_LEN,
        position_embedding_type="learned_absolute",
        share_embeddings_and_output_weights=False,
        # GPTModel annotates it ModuleSpec but hands it to MultiTokenPredictionBlock(spec=...),
        # which takes the submodules.
        mtp_block_spec=specs.mtp,  # pyright: ignore[reportArgumentType]
    )


def model_pair(case: ModelCase, seed: int = MODEL_SEED) -> tuple[GPTModel, GPTModel]:
    """(ours, upstream's), each from its own config and specs; ours seeded with ``seed``."""
    our_config, upstream_config = case.make_config(), case.make_config()
    return (
        build_model(case.ours(our_config), our_config, seed),
        build_model(case.upstream(upstream_config), upstream_config),
    )


def model_difference(ours: torch.nn.Module, upstream: torch.nn.Module) -> str | None:
    """The first way the two models differ (class tree, state_dict keys, order, dtype, shape,
    values), or None when they are the same model."""
    our_types = [type(module) for module in ours.modules()]
    upstream_types = [type(module) for module in upstream.modules()]
    if our_types != upstream_types:
        return "class trees differ"
    our_state, upstream_state = ours.state_dict(), upstream.state_dict()
    if list(our_state) != list(upstream_state):
        return "state_dict keys differ"
    for key, value in upstream_state.items():
        mine: object = our_state[key]
        if isinstance(value, torch.Tensor):
            if not isinstance(mine, torch.Tensor):
                return f"state_dict[{key}]: not a tensor in ours"
            if mine.dtype != value.dtype or mine.shape != value.shape:
                return f"state_dict[{key}]: dtype or shape differs"
            if not torch.equal(mine, value):
                return f"state_dict[{key}]: values differ"
        elif mine != value:
            return f"state_dict[{key}]: {mine!r} != {value!r}"
    return None


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def fixed_batch() -> Batch:
    """``(input_ids, position_ids, attention_mask, labels)``: fixed tokens, causal mask, next
    tokens as labels (a dedicated generator, so the global RNG is left alone)."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, VOCAB_SIZE, (MICRO_BATCH, SEQ_LEN), generator=generator)
    position_ids = torch.arange(SEQ_LEN).unsqueeze(0).expand(MICRO_BATCH, -1)
    causal = torch.triu(torch.ones(SEQ_LEN, SEQ_LEN, dtype=torch.bool), diagonal=1)
    labels = torch.roll(input_ids, shifts=-1, dims=1)
    return input_ids, position_ids, causal.view(1, 1, SEQ_LEN, SEQ_LEN), labels


def training_step(model: GPTModel, batch: Batch) -> torch.Tensor:
    """Forward with labels (per-token loss; MTP losses ride on it), mean, backward; the loss."""
    input_ids, position_ids, attention_mask, labels = batch
    with fresh_mtp_tracker():
        loss = model(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            labels=labels,
        )
        mean = loss.float().mean()
        mean.backward()
    return mean.detach()


def step_difference(ours: GPTModel, upstream: GPTModel, batch: Batch) -> str | None:
    """Run one step on each (zeroed gradients) and return the first difference in the loss or
    the gradients, or None when they computed the same, exactly."""
    for model in (ours, upstream):
        model.zero_grad(set_to_none=True)
    our_loss, upstream_loss = training_step(ours, batch), training_step(upstream, batch)
    if not torch.equal(our_loss, upstream_loss):
        return f"loss {our_loss.item()} != {upstream_loss.item()}"
    for (name, mine), (_, theirs) in zip(
        ours.named_parameters(), upstream.named_parameters(), strict=True
    ):
        if mine.grad is None or theirs.grad is None:
            return f"grad[{name}]: missing"
        if not torch.equal(mine.grad, theirs.grad):
            return f"grad[{name}]: values differ"
    return None


def builder(
    case: ModelCase, factory: Callable[[TransformerConfig], ModelSpecs]
) -> Callable[[], GPTModel]:
    """Builds the case's model from ``factory``'s specs (made once, with their own config)."""
    config = case.make_config()
    specs = factory(config)
    return lambda: build_model(specs, config)


def build_sampler(build: Callable[[], GPTModel]) -> Sampler:
    return lambda: timed(build)


def step_sampler(model: GPTModel, batch: Batch) -> Sampler:
    def sample() -> float:
        model.zero_grad(set_to_none=True)
        return timed(lambda: training_step(model, batch))

    return sample


def measure_model(case: ModelCase, repeats: int, rng: random.Random) -> list[BenchRow]:
    ours, upstream = model_pair(case)
    difference = model_difference(ours, upstream)
    if difference is not None:
        raise BenchError(f"{case.name}: ours and upstream's models differ: {difference}")
    build_ours, build_upstream = builder(case, case.ours), builder(case, case.upstream)
    rows = [
        interleaved(
            build_sampler(build_ours),
            build_sampler(build_upstream),
            repeats=repeats,
            warmup=WARMUP_BUILD,
            rng=rng,
        ).row(f"build: {case.name}", MODEL_GOAL, rng)
    ]
    if case.steps:
        batch = fixed_batch()
        difference = step_difference(ours, upstream, batch)
        if difference is not None:
            raise BenchError(f"{case.name}: ours and upstream's steps differ: {difference}")
        rows.append(
            interleaved(
                step_sampler(ours, batch),
                step_sampler(upstream, batch),
                repeats=repeats,
                warmup=WARMUP_STEP,
                rng=rng,
            ).row(f"step: {case.name}", MODEL_GOAL, rng)
        )
    return rows


# --------------------------------------------------------------------------------------------
# The whole bench
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_environment() -> Generator[None]:
    """:data:`THREADS` torch threads, the objects allocated so far frozen out of ``gc``, megatron's model-parallel state (reused when a caller
    such as a pytest session already set it up), the CPU shims, and megatron's deprecation and
    fallback notices silenced; everything restored on exit."""
    threads = torch.get_num_threads()
    megatron_logger = logging.getLogger("megatron.core")
    level = megatron_logger.level
    parallel = (
        contextlib.nullcontext()
        if torch.distributed.is_initialized() and parallel_state.model_parallel_is_initialized()
        else distributed_state()
    )
    torch.set_num_threads(THREADS)
    megatron_logger.setLevel(logging.ERROR)
    gc.collect()
    gc.freeze()
    try:
        with warnings.catch_warnings(), parallel, cpu_shims():
            warnings.simplefilter("ignore")
            yield
    finally:
        gc.unfreeze()
        megatron_logger.setLevel(level)
        torch.set_num_threads(threads)


def measure(repeats: int) -> list[BenchRow]:
    """Every row, ``repeats`` interleaved pairs of samples each (at least 2)."""
    if repeats < 2:
        raise ValueError(f"repeats must be at least 2, not {repeats}")
    rng = random.Random(ORDER_SEED)
    rows: list[BenchRow] = []
    with bench_environment():
        for spec_case in spec_cases():
            rows.append(measure_spec(spec_case, repeats, rng))
        for model_case in MODEL_CASES:
            rows.extend(measure_model(model_case, repeats, rng))
    return rows


def positive_int(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.runtime",
        description=(
            "Runtime cost of the typed specs against upstream's: spec construction, model "
            "construction and one training step of GPT models on the CPU, interleaved. "
            "Exit status: 0 every goal met, 1 a goal missed, 2 usage error or the two sides "
            "built or computed different things."
        ),
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=DEFAULT_REPEATS,
        help=f"interleaved pairs of samples per row (default {DEFAULT_REPEATS})",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of a table"
    )
    output.add_argument(
        "--markdown", action="store_true", help="print a Markdown table (for the README)"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        rows = measure(args.repeats)
    except BenchError as error:
        print(f"bench.runtime: {error}", file=sys.stderr)
        return 2
    title = (
        f"Runtime cost of typed specs: ours against upstream's ({THREADS} torch thread, "
        f"{args.repeats} interleaved pairs a row, {time.perf_counter() - start:.0f} s)"
    )
    print_rows(
        title, rows, output="json" if args.json else "markdown" if args.markdown else "table"
    )
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
