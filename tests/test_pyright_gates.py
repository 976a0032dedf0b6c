"""Pyright gates: generated code is strict-clean, matches upstream's Protocols, and catches mistakes."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pyright_runner import ROOT, Diagnostic, run_pyright

SCHEMAS = ROOT / "schemas"


def _upstream_pairs() -> list[tuple[str, str, tuple[str, ...]]]:
    """(generated name, upstream dotted path, documented extra parameters) from the descriptions."""
    pairs: list[tuple[str, str, tuple[str, ...]]] = []
    for path in sorted((SCHEMAS / "megatron_core").glob("*.json")):
        data = json.loads(path.read_text())
        for item in data.get("interfaces", []) + data.get("builders", []):
            upstream = item.get("upstream")
            if upstream:
                pairs.append(
                    (item["name"], upstream["object"], tuple(upstream.get("extra_parameters", [])))
                )
    return pairs


def test_generated_and_generator_are_strict_clean() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "generator", "generated"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    report = json.loads(completed.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert report["summary"]["filesAnalyzed"] >= 15
    assert errors == [], errors


UPSTREAM_PAIRS = {
    "Mlp",
    "LayerNorm",
    "LinearQkv",
    "CoreAttention",
    "LinearProj",
    "LinearFc1",
    "LinearFc2",
    "TEActivationFunction",
    "GroupedLinearFc1",
    "GroupedLinearFc2",
    "Experts",
    "SharedExperts",
    "Router",
    "Linear",
    "LinearLayer",
}


def test_every_upstream_protocol_pair_is_described() -> None:
    names = {
        name.removesuffix("Builder").removesuffix("Interface") for name, _, _ in _upstream_pairs()
    }
    assert names == UPSTREAM_PAIRS
    # The 14 hand-written pairs of 0.19.2; LinearInterface/LinearLayerBuilder is one pair.
    assert len(_upstream_pairs()) == 2 * 14


@pytest.fixture(scope="module")
def parity_diagnostics(tmp_path_factory: pytest.TempPathFactory) -> list[Diagnostic]:
    """One pyright run over assignments in both directions for every upstream pair."""
    folder = tmp_path_factory.mktemp("parity")
    lines = ['"""Generated and upstream Protocols, assigned both ways."""', ""]
    for name, upstream, _ in _upstream_pairs():
        module, upstream_name = upstream.rsplit(".", 1)
        lines += [
            f"from generated.megatron_core import {name} as Generated{name}",
            f"from {module} import {upstream_name} as Upstream{name}",
            "",
            f"def generated_to_upstream_{name}(value: Generated{name}) -> Upstream{name}:",
            "    return value",
            "",
            f"def upstream_to_generated_{name}(value: Upstream{name}) -> Generated{name}:",
            "    return value",
            "",
        ]
    probe = folder / "parity_probe.py"
    probe.write_text("\n".join(lines))
    errors, _ = run_pyright(folder)
    return [error for error in errors if error.rule != "reportUnusedFunction"]


def _function_at(file: str, line: int) -> str:
    source = Path(file).read_text().splitlines()
    for index in range(line - 1, -1, -1):
        match = re.match(r"def (\w+)", source[index])
        if match:
            return match.group(1)
    raise AssertionError(f"no function above {file}:{line}")


@pytest.mark.parametrize(
    "name,upstream,extra", _upstream_pairs(), ids=[p[0] for p in _upstream_pairs()]
)
def test_generated_protocol_matches_upstream(
    parity_diagnostics: list[Diagnostic], name: str, upstream: str, extra: tuple[str, ...]
) -> None:
    failing = {_function_at(e.file, e.line): e.message for e in parity_diagnostics}
    assert f"generated_to_upstream_{name}" not in failing, failing.get(
        f"generated_to_upstream_{name}"
    )
    reverse = f"upstream_to_generated_{name}"
    if not extra:
        assert reverse not in failing, failing.get(reverse)
    else:
        # Upstream's Protocol omits parameters its own parent passes (documented in the
        # description); the reverse direction must fail for exactly that reason.
        assert reverse in failing, f"{upstream} now accepts {extra}: drop extra_parameters"
        # pyright names a missing keyword parameter; a missing positional one it counts.
        for parameter in extra:
            message = failing[reverse]
            assert f'"{parameter}"' in message or "too few positional" in message, message


WRONG_IMPLEMENTATIONS = '''
"""Deliberately wrong implementations: pyright must reject them, naming the slot's Protocol."""
import torch
from megatron.core.transformer.transformer_config import TransformerConfig

from generated.megatron_core import LayerNormBuilder, MlpBuilder


class NormWithoutEps(torch.nn.Module):
    def __init__(self, *, config: TransformerConfig, hidden_size: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor, /) -> torch.Tensor:
        return x


class MlpWithWrongForward(torch.nn.Module):
    def forward(self, hidden_states: torch.Tensor, scale: float, /) -> torch.Tensor:
        return hidden_states * scale


def build_mlp(*, config: TransformerConfig, pg_collection: object, is_mtp_layer: bool, name: str | None = None) -> MlpWithWrongForward:
    return MlpWithWrongForward()


missing_builder_parameter: LayerNormBuilder = NormWithoutEps
wrong_forward_signature: MlpBuilder = build_mlp
'''


def test_pyright_rejects_wrong_implementations_naming_the_protocol(tmp_path: Path) -> None:
    (tmp_path / "wrong.py").write_text(WRONG_IMPLEMENTATIONS)
    errors, _ = run_pyright(tmp_path)
    by_line = {
        Path(e.file).read_text().splitlines()[e.line - 1].split(":")[0]: e.message for e in errors
    }
    assert "LayerNormBuilder" in by_line["missing_builder_parameter"]
    assert '"eps"' in by_line["missing_builder_parameter"]
    assert "MlpBuilder" in by_line["wrong_forward_signature"]
    assert "forward" in by_line["wrong_forward_signature"]
