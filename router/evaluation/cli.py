"""``tiered-router eval``: score the router's routing score on labelled data (no Ray, no network).

    tiered-router eval --data FILE [--folds 5] [--plot OUT.png] [--config FILE] [--cloud-at 0.6]
    tiered-router eval --data FILE --answers ANSWERS --second-opinion MODEL [--folds 5] [--plot OUT.png]

FILE is a RouterBench-style CSV (the README metrics, baselines and the quality-cost curve) or a
MATH-style JSONL with ``problem`` and ``level`` (Spearman of complexity with level). When the shipped
classifier was calibrated on FILE itself (same SHA-256), its scores would be memorised, so the
classifier is refitted per fold and each row is scored by a model that never saw it.

With ``--answers`` (a ``train_answers.csv``-style file) it scores the cascade form instead: the escalation
score from the local model's answer against MODEL's as the second opinion, calibrated k-fold on the same
file, beside prompt-only, agreement-only, random and the oracle; cost counts every local call.
"""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only what building the parser needs is imported here: `tiered-router serve` builds the same parser
# and should not pay for numpy and the classifier.
if TYPE_CHECKING:
    from router.core.config import RouterConfig
    from router.evaluation.routing import RouterReport

DEFAULT_CLOUD_AT = 0.6  # router.evaluation.routing.DEFAULT_CLOUD_AT; a test keeps them equal


def add_eval_command(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("eval", help="score the routing decision on labelled data (offline)",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="RouterBench-style CSV or MATH-style JSONL")
    parser.add_argument("--folds", type=int, default=5,
                        help="cross-validation folds when the classifier was calibrated on --data (default 5)")
    parser.add_argument("--plot", type=Path, help="write the quality-cost curve to this PNG (needs matplotlib)")
    parser.add_argument("--config", type=Path, help="router config YAML (weights and thresholds)")
    parser.add_argument("--cloud-at", type=float, default=DEFAULT_CLOUD_AT,
                        help=f"three-way form: Tier 3 goes to the cloud model at this routing score (default {DEFAULT_CLOUD_AT})")
    parser.add_argument("--answers", type=Path, help="cascade form: the answers behind --data (answer|<model>)")
    parser.add_argument("--second-opinion", default="mistralai/mixtral-8x7b-chat",
                        help="cascade form: the model whose answers stand for the second local opinion")
    parser.set_defaults(func=cmd_eval)
    return parser


def cmd_eval(args: argparse.Namespace) -> int:
    from router.core.config import RouterConfig, load_config
    from router.core.errors import RouterError
    from router.evaluation.data import DataFormatError

    if not args.data.is_file():
        print(f"tiered-router eval: no such file: {args.data}", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config) if args.config else RouterConfig()
        if args.data.suffix.lower() in (".jsonl", ".json"):
            return _eval_levelled(args, config)
        if args.answers is not None:
            return _eval_cascade(args, config)
        return _eval_routing(args, config)
    except (DataFormatError, RouterError, ValueError) as exc:
        message = exc.message if isinstance(exc, RouterError) else str(exc)
        print(f"tiered-router eval: {message}", file=sys.stderr)
        return 2


def _eval_levelled(args: argparse.Namespace, config: "RouterConfig") -> int:
    from router.decision.learned_classifier import LearnedClassifier
    from router.evaluation.data import read_levelled
    from router.evaluation.routing import level_correlation

    problems = read_levelled(args.data)
    rho, means = level_correlation(problems, LearnedClassifier(thresholds=config.thresholds))
    print(f"problems: {len(problems)}   Spearman(complexity, level) = {rho:.3f}")
    for level, mean in means.items():
        print(f"  level {level}: mean complexity {mean:.3f}")
    return 0


def _eval_routing(args: argparse.Namespace, config: "RouterConfig") -> int:
    from tqdm import tqdm

    from router.decision.learned_classifier import shipped_params
    from router.evaluation.data import file_sha256, read_routerbench
    from router.evaluation.routing import classify_records, format_report, report

    records = read_routerbench(args.data)
    same_file = shipped_params().source_sha256 == file_sha256(args.data)
    folds = args.folds if same_file else None
    if same_file:
        print(f"the shipped classifier was calibrated on {args.data}: scoring by {folds}-fold cross-validation")
    with tqdm(total=len(records), desc="classifying", unit="prompt", file=sys.stderr) as bar:
        classifications, ids = classify_records(records, config, folds=folds, progress=bar.update)
    result = report(records, classifications, config, ids=ids, cloud_at=args.cloud_at)
    print(format_report(result))
    if args.plot:
        plot_curve(result, args.plot)
        print(f"quality-cost curve written to {args.plot}")
    return 0


def _eval_cascade(args: argparse.Namespace, config: "RouterConfig") -> int:
    from router.evaluation.cascade import (
        cascade_report,
        format_cascade_report,
        read_answers,
    )
    from router.evaluation.data import STRONG_MODEL, WEAK_MODEL, read_routerbench

    if not args.answers.is_file():
        raise ValueError(f"no such answers file: {args.answers}")
    records = read_routerbench(args.data, require=(WEAK_MODEL, STRONG_MODEL, args.second_opinion))
    result = cascade_report(records, read_answers(args.answers), args.second_opinion, config=config,
                            folds=args.folds)
    print(format_cascade_report(result))
    if args.plot:
        curves = {"cascade (calibrated)": result.cascade, "agreement only": result.agreement_only,
                  "prompt only": result.prompt_only, "random": result.random, "oracle ranking": result.oracle}
        _plot(curves, {}, args.plot, f"cascade form, second opinion {args.second_opinion} "
                                      f"(APGR {result.cascade.apgr:.3f}, {result.folds}-fold)")
        print(f"quality-cost curve written to {args.plot}")
    return 0


def plot_curve(result: "RouterReport", path: Path) -> None:
    _pyplot()  # say what to install before reading anything
    curves = {"learned router": result.router, "random": result.random, "oracle ranking": result.oracle}
    star = None
    if result.three_way:
        star = (result.three_way.router.cost, result.three_way.router.quality)
    _plot(curves, result.baselines, path, f"quality vs cost ({result.mode}, APGR {result.router.apgr:.3f})", star)


def _plot(curves: dict[str, Any], points: dict[str, Any], path: Path, title: str,
          star: tuple[float, float] | None = None) -> None:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for (name, result), style in zip(curves.items(), ("-", "-.", "--", ":", (0, (1, 1))), strict=False):
        axis.plot(result.curve.cost, result.curve.quality, linestyle=style, label=name)
    for name, point in points.items():
        axis.scatter([point.cost], [point.quality], zorder=3)
        axis.annotate(name, (point.cost, point.quality), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if star is not None:
        axis.scatter([star[0]], [star[1]], marker="*", s=120, zorder=4, label="three-way router")
    axis.set_xlabel("total cost (USD)")
    axis.set_ylabel("mean quality")
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never a window
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'tiered-router[dev]' (or pip install matplotlib)") from None
    return plt
