"""Fit the cascade's escalation model on the RouterBench train files and write its shipped parameters.

    python scripts/fit_cascade.py [--data ../shared/eval/routerbench/train.csv]
                                  [--answers ../shared/eval/routerbench/train_answers.csv]
                                  [--output router/data/cascade_params.json] [--folds 5]

Deterministic (Newton's method from zero, values rounded): the same files give byte-identical parameters.
The prompt's routing score is taken out of fold (each row scored by a classifier fitted on the other folds),
so the model learns how much a held-out prompt's score is worth. Before writing, it prints the k-fold
cross-validated cascade report for each second opinion.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.core.config import RouterConfig  # noqa: E402
from router.evaluation.cascade import (  # noqa: E402
    SECOND_OPINIONS,
    cascade_report,
    fit_cascade,
    format_cascade_report,
    out_of_fold_routing_scores,
    params_json,
    read_answers,
    sources,
)
from router.evaluation.data import read_routerbench  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval" / "routerbench"
DEFAULT_OUTPUT = ROOT / "router" / "data" / "cascade_params.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "train.csv")
    parser.add_argument("--answers", type=Path, default=SHARED / "train_answers.csv")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-report", action="store_true", help="skip the cross-validated report")
    args = parser.parse_args(argv)
    config = RouterConfig()
    records = read_routerbench(args.data)
    answers = read_answers(args.answers)
    routing = out_of_fold_routing_scores(records, config, args.folds)
    if not args.no_report:
        for second in SECOND_OPINIONS[:3]:
            print(format_cascade_report(cascade_report(records, answers, second, config=config, folds=args.folds,
                                                       routing=routing)))
            print()
    params = fit_cascade(records, answers, routing, sources=sources(args.data, args.answers))
    args.output.write_text(params_json(params), encoding="utf-8")
    print(f"fitted on {len(records)} prompts x {len(params.second_opinions)} second opinions; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
