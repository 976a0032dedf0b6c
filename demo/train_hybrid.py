"""Train a small HybridModel built from the generated TE-free hybrid spec, on the CPU.

    make demo        # = python -m demo.train_hybrid --out docs/demo-loss.png

The model is megatron-core's own ``HybridModel`` with the layer pattern ``*-*-/*-``: attention,
MLP, attention, MLP, and one multi-token-prediction depth (attention + MLP) that predicts the
token after next. Its spec comes from ``get_hybrid_stack_local_spec()``, which uses only
megatron-core's own modules and the lifted final norm, so no Transformer Engine is needed. It
learns the characters (bytes) of ``demo/data/alice.txt``: the opening of chapter I of Lewis
Carroll's *Alice's Adventures in Wonderland* (1865, public domain).

The run shows a progress bar, prints the loss at the start and at the end, writes the loss
curve as a PNG, and exits with status 1 if the loss did not fall. megatron-core 0.19.2 expects
CUDA in a few places; on the CPU the project's test harness (``tests/megatron_cpu.py``) patches
exactly those, reversibly, around the run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from megatron.core.models.hybrid.hybrid_model import HybridModel
from megatron.core.transformer.transformer_config import TransformerConfig
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from generated.megatron_core.hybrid_layer_specs import get_hybrid_stack_local_spec
from tests.megatron_cpu import cpu_shims, distributed_state

CORPUS = Path(__file__).parent / "data" / "alice.txt"
VOCAB_SIZE = 256  # bytes
PATTERN = "*-*-/*-"  # decoder: attention, MLP, attention, MLP; one MTP depth: attention, MLP
WINDOW = 10  # steps averaged for the start and end loss


def build_model(sequence_length: int) -> HybridModel:
    """The few lines a user writes: a config, the generated spec, megatron-core's model."""
    config = TransformerConfig(
        num_layers=4,
        hidden_size=64,
        num_attention_heads=4,
        normalization="RMSNorm",
        add_bias_linear=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        mtp_num_layers=1,
        use_cpu_initialization=True,
    )
    return HybridModel(
        config=config,
        hybrid_stack_spec=get_hybrid_stack_local_spec(),
        vocab_size=VOCAB_SIZE,
        max_sequence_length=sequence_length,
        hybrid_layer_pattern=PATTERN,
        position_embedding_type="learned_absolute",
    )


def batches(
    data: torch.Tensor, batch_size: int, sequence_length: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the corpus and the same windows shifted by one byte (the labels)."""
    starts = torch.randint(0, len(data) - sequence_length - 1, (batch_size,), generator=generator)
    tokens = torch.stack([data[start : start + sequence_length] for start in starts.tolist()])
    labels = torch.stack([data[start + 1 : start + sequence_length + 1] for start in starts.tolist()])
    return tokens, labels


def train(steps: int, batch_size: int, sequence_length: int, seed: int) -> list[float]:
    """Train for `steps` steps; the loss of each step (decoder loss; MTP trains alongside)."""
    data = torch.tensor(list(CORPUS.read_bytes()), dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = build_model(sequence_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    positions = torch.arange(sequence_length).unsqueeze(0).expand(batch_size, -1)
    causal_mask = torch.triu(torch.ones(1, 1, sequence_length, sequence_length, dtype=torch.bool), 1)
    losses: list[float] = []
    columns = (
        TextColumn("training"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}  loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("train", total=steps, loss=float("nan"))
        for _ in range(steps):
            tokens, labels = batches(data, batch_size, sequence_length, generator)
            loss = model(tokens, positions, causal_mask, labels=labels).float().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            progress.update(task, advance=1, loss=losses[-1])
    return losses


def plot(losses: Sequence[float], path: Path) -> None:
    """Write the loss curve (per step, and a moving average) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4), dpi=100)
    steps = range(1, len(losses) + 1)
    axes.plot(steps, losses, color="#9ecae1", linewidth=1, label="loss per step")
    smoothed = [
        statistics.fmean(losses[max(0, i - WINDOW + 1) : i + 1]) for i in range(len(losses))
    ]
    axes.plot(steps, smoothed, color="#08519c", linewidth=2, label=f"mean of {WINDOW} steps")
    axes.set_xlabel("step")
    axes.set_ylabel("cross-entropy (nats per byte)")
    axes.set_title(f"HybridModel {PATTERN!r} from get_hybrid_stack_local_spec(), CPU")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    pyplot.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--out", type=Path, default=Path("docs/demo-loss.png"), help="loss-curve PNG to write"
    )
    args = parser.parse_args(argv)
    if args.steps < 2 * WINDOW:
        parser.error(f"--steps must be at least {2 * WINDOW}")
    with warnings.catch_warnings(), distributed_state(), cpu_shims():
        warnings.simplefilter("ignore")  # megatron-core's deprecation and fallback notices
        losses = train(args.steps, args.batch_size, args.sequence_length, args.seed)
    plot(losses, args.out)
    start, end = statistics.fmean(losses[:WINDOW]), statistics.fmean(losses[-WINDOW:])
    print(f"loss: {start:.3f} at the start, {end:.3f} at the end (mean of {WINDOW} steps)")
    print(f"loss curve: {args.out}")
    if not end < start:
        print("the loss did not fall", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
