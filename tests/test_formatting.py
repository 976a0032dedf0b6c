"""formatting: black's result, in one pass where a second cannot change it."""

import black

from generator.formatting import MODE, _one_pass, format_code

# A return annotation too long for one line, as a long type name made it (found by make fuzz):
# black's first pass splits at the parameters and at the annotation; its second pass, seeing the
# trailing comma the first added, splits at the annotation only.
SPLIT_AT_TWO_PAIRS = """
class Interface:
    def __call__(self, training: bool, fused: bool, /) -> Callable[[tuple[MultiTokenPredictionBlock, MultiTokenPredictionBlock | None], MultiTokenPredictionBlock, float], MultiTokenPredictionBlock]: ...
"""

PLAIN = """
def build(config: TransformerConfig, submodules: MLPSubmodules, is_expert: bool = False, input_size: int | None = None) -> MLP:
    return MLP(config=config, submodules=submodules, is_expert=is_expert, input_size=input_size)
"""


def test_a_statement_split_at_two_bracket_pairs_is_settled_as_black_settles_it() -> None:
    settled = black.format_str(SPLIT_AT_TWO_PAIRS, mode=MODE)
    once = _one_pass(SPLIT_AT_TWO_PAIRS, mode=MODE)
    assert once != settled  # the case needs black's second pass
    assert format_code(SPLIT_AT_TWO_PAIRS, "test") == settled


def test_other_code_is_formatted_as_black_formats_it() -> None:
    assert format_code(PLAIN, "test") == black.format_str(PLAIN, mode=MODE)
