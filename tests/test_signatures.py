"""generator.signatures: constructors read from source, and Python's binding rules applied to them."""

import sys
from pathlib import Path

import pytest

from generator.signatures import Accepted, Binding, Signature, constructor

MODULE = """
from megatron.core.transformer.mlp import MLP
import torch


class Base:
    def __init__(self, config, *, hidden_size, eps=1e-5):
        pass


class Mixin:
    def helper(self):
        pass


class Child(Mixin, Base):
    pass


class Made:
    def __new__(cls, config, hidden_size):
        return object.__new__(cls)


class FromImported(MLP):
    pass


class FromAttribute(torch.nn.Module):
    pass


class Plain:
    pass
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "signature_samples.py").write_text(MODULE)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    constructor.cache_clear()
    yield "signature_samples"
    constructor.cache_clear()


def _names(signature: Signature | None) -> list[str]:
    assert signature is not None
    return [p.name for p in signature.parameters]


def test_a_class_without_a_constructor_inherits_its_first_bases_that_has_one(module):
    signature = constructor(f"{module}.Child")
    assert signature is not None and signature.owner == f"{module}.Base"
    assert signature.parameters == (
        Accepted("config", Binding.POSITIONAL_OR_KEYWORD, True),
        Accepted("hidden_size", Binding.KEYWORD_ONLY, True),
        Accepted("eps", Binding.KEYWORD_ONLY, False),
    )


def test_new_is_read_when_the_class_defines_it(module):
    assert _names(constructor(f"{module}.Made")) == ["config", "hidden_size"]


def test_a_base_imported_from_megatron_core_is_followed(module):
    signature = constructor(f"{module}.FromImported")
    assert signature is not None and signature.owner == "megatron.core.transformer.mlp.MLP"


def test_a_base_written_as_an_attribute_chain_is_not_guessed(module):
    assert constructor(f"{module}.FromAttribute") is None


def test_a_class_with_no_constructor_anywhere_takes_nothing(module):
    signature = constructor(f"{module}.Plain")
    assert signature == Signature("object", (), False, False)
    assert signature.problems(0, ["x"]) == ["has no parameter 'x'"]


def test_a_name_that_is_not_a_class_has_no_signature():
    assert constructor("megatron.core.fusions.fused_bias_dropout.get_bias_dropout_add") is None
    assert constructor("no_such_package.Thing") is None


def test_a_re_exported_class_is_read_where_it_is_defined():
    signature = constructor("megatron.core.transformer.TransformerLayer")  # re-exported there
    assert signature is not None
    assert signature.owner == "megatron.core.transformer.transformer_layer.TransformerLayer"


def test_a_decorated_class_is_not_guessed():
    # @dataclass writes an __init__ the source does not show
    assert constructor("megatron.core.transformer.transformer_config.TransformerConfig") is None


def test_binding_reports_each_way_a_call_fails():
    signature = Signature(
        "m.C",
        (
            Accepted("a", Binding.POSITIONAL_ONLY, True),
            Accepted("b", Binding.POSITIONAL_OR_KEYWORD, True),
            Accepted("c", Binding.KEYWORD_ONLY, False),
        ),
        False,
        False,
    )
    assert signature.problems(2, ["c"]) == []
    assert signature.problems(1, ["b"]) == []
    assert signature.problems(3, []) == ["takes 2 positional arguments but is given 3"]
    assert signature.problems(2, ["b"]) == ["gets 'b' twice, by position and by name"]
    assert signature.problems(0, ["a", "b"]) == [
        "has no parameter 'a'",
        "requires 'a', which it is not given",
    ]
    assert signature.problems(2, ["d"]) == ["has no parameter 'd'"]


def test_star_parameters_accept_what_is_left_over():
    signature = Signature("m.C", (Accepted("a", Binding.POSITIONAL_OR_KEYWORD, True),), True, True)
    assert signature.problems(3, ["z"]) == []
    assert signature.problems(0, []) == ["requires 'a', which it is not given"]
