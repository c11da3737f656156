"""Fit the learned classifier on the RouterBench calibration file and write its shipped parameters.

    python scripts/fit_classifier.py [--data ../shared/eval/routerbench/train.csv]
                                     [--output router/data/learned_classifier.json]

Deterministic: the same data file always gives byte-identical parameters (fixed-step optimiser, no
random starts, values rounded before they are written). The file's SHA-256 is recorded so that
``tiered-router eval`` knows to cross-validate when it is given the same file.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.evaluation.data import file_sha256, read_routerbench  # noqa: E402
from router.evaluation.fitting import fit  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "routerbench" / "train.csv"
DEFAULT_OUTPUT = ROOT / "router" / "data" / "learned_classifier.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="RouterBench-style CSV")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    records = read_routerbench(args.data)
    params = fit(records, source_sha256=file_sha256(args.data))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(params.to_json(), encoding="utf-8")
    print(f"fitted on {len(records)} rows of {args.data}; wrote {args.output} ({args.output.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
