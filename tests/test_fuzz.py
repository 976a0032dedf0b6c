"""CI's budget of the fuzzing campaign (tests/fuzz; `make fuzz` runs 10,000 inputs): seeded
mutations of the bundled descriptions each end in generated code that passes pyright strict, or
in clear, located errors (validation's, or generate's pyright stage's) with nothing written."""

import os

from tests.fuzz.campaign import run_campaign
from tests.fuzz.mutations import KINDS

BUDGET = 160  # about a minute on two cores, pyright included


def test_seeded_mutations_end_in_typed_code_or_clear_errors_never_a_defect():
    summary = run_campaign(BUDGET, jobs=min(2, os.cpu_count() or 1), base_seed=1000)

    assert summary.defects == [], summary.render()
    assert summary.inputs == BUDGET
    assert summary.accepted + summary.rejected == BUDGET
    # The campaign exercises both outcomes and every kind of mutation.
    assert summary.accepted > 0 and summary.rejected > 0, summary.render()
    assert summary.distinct_outputs > 0, summary.render()
    assert all(summary.by_kind[kind].inputs > 0 for kind in KINDS), summary.render()
