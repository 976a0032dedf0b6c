"""Property-based fuzzing of the generator with mutated descriptions (hypothesis, seeded).

`mutations` draws mutated copies of the bundled descriptions; `harness` runs the real pipeline on
each in a project copy and classifies the outcome; `typecheck` checks the distinct accepted outputs
with pyright in batches; `campaign` ties them together (`python -m tests.fuzz`, `make fuzz`, and
tests/test_fuzz.py for CI's small budget).
"""
