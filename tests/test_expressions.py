"""Type and value expressions: what is accepted, what is refused and why."""

import pytest

from generator.expressions import (
    ExpressionError,
    attribute_path,
    check_type_expression,
    check_value_expression,
)


@pytest.mark.parametrize(
    "text",
    [
        "Tensor",
        "tuple[Tensor, Tensor | None]",
        "Callable[[Tensor], None]",
        "tuple[Tensor, ...]",
        "Literal['a', 1]",
        "torch.Tensor",
    ],
)
def test_type_expressions_of_names_subscripts_and_unions_are_accepted(text: str) -> None:
    assert check_type_expression(text).source == text.replace("'", "'")


@pytest.mark.parametrize(
    "text,node",
    [
        ("os.system('x')", "Call"),
        ("'Tensor'", "Constant"),
        ("lambda: 1", "Lambda"),
        ("a if b else c", "IfExp"),
        ("[x for x in y]", "ListComp"),
    ],
)
def test_type_expressions_that_could_run_code_are_refused(text: str, node: str) -> None:
    with pytest.raises(ExpressionError, match=node):
        check_type_expression(text)


def test_value_expressions_allow_literals_and_imported_attributes_only() -> None:
    assert check_value_expression("AttnMaskType.causal").names == {"AttnMaskType"}
    assert check_value_expression("-1e-05").source == "-1e-05"
    with pytest.raises(ExpressionError):
        check_value_expression("__import__('os')")


def test_derivations_are_dotted_paths() -> None:
    assert attribute_path("pg_collection.tp") == ("pg_collection", "tp")
    with pytest.raises(ExpressionError):
        attribute_path("pg_collection.tp()")
