"""`python -m tests.fuzz [--inputs N] [--jobs J] [--seed S]`: the fuzzing campaign `make fuzz` runs.

Exit status 0 when no defect was found, 1 otherwise.
"""

import argparse
import os
import sys

from tests.fuzz.campaign import run_campaign


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--inputs", type=int, default=10_000, help="mutated inputs to run")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="shards (processes), one seed each"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first shard")
    args = parser.parse_args()
    summary = run_campaign(args.inputs, jobs=args.jobs, base_seed=args.seed, progress=True)
    print(summary.render())
    return 1 if summary.defects else 0


if __name__ == "__main__":
    sys.exit(main())
