"""The cascade form, offline: an ``escalation_score`` for each prompt from the prompt *and* the local answers,
scored like the prompt-only routing score (``shared/eval/README.md``). Cost counts every local call (the
local answer and the second opinion) plus the strong calls the score sends.

Fitting pools every listed second opinion, so the shipped model is not tied to one model's answers. With
``folds``, each row is scored by a model (and a prompt classifier) fitted on the other folds only.
"""

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from router.cascade.compare import Candidate, compare
from router.cascade.score import FEATURES, CascadeParams, features
from router.core.config import RouterConfig
from router.decision.scoring import routing_score
from router.evaluation.data import (
    STRONG_MODEL,
    WEAK_MODEL,
    DataFormatError,
    RoutingRecord,
    file_sha256,
)
from router.evaluation.metrics import (
    BinaryResult,
    evaluate_binary,
    oracle_binary,
    random_binary,
)
from router.evaluation.routing import classify_records, fold_ids

SECOND_OPINIONS = ("mistralai/mixtral-8x7b-chat", "zero-one-ai/Yi-34B-Chat", "meta/llama-2-70b-chat",
                   "meta/code-llama-instruct-34b-chat", "WizardLM/WizardLM-13B-V1.2")
PENALTY = 1e-3  # L2 on every weight but the bias
NEWTON_STEPS = 60
DECIMALS = 7


def read_answers(path: str | Path) -> dict[str, dict[str, str]]:
    """sample_id -> model -> answer text, from a ``train_answers.csv``-style file."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "sample_id" not in columns or not any(c.startswith("answer|") for c in columns):
            raise DataFormatError(f"{path}: expected sample_id and answer|<model> columns")
        return {row["sample_id"]: {c.split("|", 1)[1]: row[c] or "" for c in columns if c.startswith("answer|")}
                for row in reader}


def design(records: Sequence[RoutingRecord], answers: dict[str, dict[str, str]], second: str,
           routing_scores: np.ndarray, weak: str = WEAK_MODEL) -> np.ndarray:
    rows = []
    for record, score in zip(records, routing_scores, strict=True):
        given = answers.get(record.sample_id)
        if given is None or weak not in given or second not in given:
            raise DataFormatError(f"no {weak} or {second} answer for {record.sample_id}")
        comparison = compare(record.prompt, [Candidate(weak, given[weak]), Candidate(second, given[second])])
        rows.append(features(comparison, float(score), record.prompt))
    return np.array(rows)


def logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method: deterministic, no learning rate."""
    penalty = np.full(x.shape[1], PENALTY)
    penalty[0] = 0.0
    w = np.zeros(x.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) / len(y) + penalty * w
        hessian = (x.T * (p * (1.0 - p))) @ x / len(y) + np.diag(penalty)
        w = w - np.linalg.solve(hessian, gradient)
    return np.round(w, DECIMALS)


def target(records: Sequence[RoutingRecord], weak: str = WEAK_MODEL, strong: str = STRONG_MODEL) -> np.ndarray:
    """1 where escalating helps: the local answer was wrong and the strong model's right."""
    return np.array([r.quality[strong] * (1.0 - r.quality[weak]) for r in records])


def out_of_fold_routing_scores(records: Sequence[RoutingRecord], config: RouterConfig, folds: int) -> np.ndarray:
    classifications, _ = classify_records(records, config, folds=folds)
    return np.array([routing_score(c, config.weights) for c in classifications])


def fit_cascade(records: Sequence[RoutingRecord], answers: dict[str, dict[str, str]], routing_scores: np.ndarray,
                *, seconds: Sequence[str] = SECOND_OPINIONS, sources: dict[str, str] | None = None) -> CascadeParams:
    x = np.vstack([design(records, answers, s, routing_scores) for s in seconds])
    y = np.concatenate([target(records)] * len(seconds))
    return CascadeParams(features=list(FEATURES), weights=[float(v) for v in logistic(x, y)], target="gain",
                         rows=len(records), second_opinions=list(seconds), weak_model=WEAK_MODEL,
                         strong_model=STRONG_MODEL, source_sha256=sources or {})


def params_json(params: CascadeParams) -> str:
    return json.dumps(params.model_dump(), indent=1, sort_keys=True) + "\n"


@dataclass
class CascadeReport:
    second: str
    rows: int
    folds: int
    cascade: BinaryResult
    agreement_only: BinaryResult
    prompt_only: BinaryResult
    random: BinaryResult
    oracle: BinaryResult
    escalation_rate_at_half: float  # share escalated at escalation_score >= 0.5
    scores: np.ndarray = field(repr=False)


def cascade_report(records: Sequence[RoutingRecord], answers: dict[str, dict[str, str]], second: str, *,
                   config: RouterConfig, folds: int = 5, seconds: Sequence[str] = SECOND_OPINIONS,
                   routing: np.ndarray | None = None) -> CascadeReport:
    """k-fold: the prompt classifier and the cascade model of each fold never saw its rows. ``routing``: the
    out-of-fold routing scores when the caller has them already (they cost five classifier fits)."""
    if routing is None:
        routing = out_of_fold_routing_scores(records, config, folds)
    ids = fold_ids(len(records), folds)
    pooled = list(dict.fromkeys([*seconds, second]))
    designs = {s: design(records, answers, s, routing) for s in pooled}
    y = target(records)
    logits = np.zeros(len(records))
    for fold in range(folds):
        train = ids != fold
        w = logistic(np.vstack([designs[s][train] for s in pooled]), np.concatenate([y[train]] * len(pooled)))
        logits[~train] = designs[second][~train] @ w
    scores = 1.0 / (1.0 + np.exp(-logits))
    wq = np.array([r.quality[WEAK_MODEL] for r in records])
    sq = np.array([r.quality[STRONG_MODEL] for r in records])
    local = np.array([r.cost[WEAK_MODEL] + r.cost.get(second, 0.0) for r in records])  # every local call
    escalated = local + np.array([r.cost[STRONG_MODEL] for r in records])
    agreement = designs[second][:, FEATURES.index("agreement")]
    return CascadeReport(
        second=second, rows=len(records), folds=folds,
        cascade=evaluate_binary(scores, wq, sq, local, escalated),
        agreement_only=evaluate_binary(-agreement, wq, sq, local, escalated),
        prompt_only=evaluate_binary(routing, wq, sq, local, escalated),
        random=random_binary(wq, sq, local, escalated),
        oracle=oracle_binary(wq, sq, local, escalated)[0],
        escalation_rate_at_half=float(np.mean(scores >= 0.5)), scores=scores,
    )


def format_cascade_report(r: CascadeReport) -> str:
    lines = [f"cascade form: {r.rows} prompts, local = {WEAK_MODEL}, second opinion = {r.second}, "
             f"strong = {STRONG_MODEL}, {r.folds}-fold cross-validation (cost counts every local call)",
             f"{'':24}{'APGR':>8}{'CPT(95%)':>10}{'saving@95%':>12}"]
    for name, result in (("cascade (calibrated)", r.cascade), ("agreement only", r.agreement_only),
                         ("prompt only", r.prompt_only), ("random", r.random), ("oracle", r.oracle)):
        lines.append(f"{name:24}{result.apgr:8.3f}{result.cpt95:10.3f}{result.cost_saving95:12.1%}")
    lines.append(f"escalated at escalation_score >= 0.5: {r.escalation_rate_at_half:.1%}")
    return "\n".join(lines)


def sources(*paths: Path) -> dict[str, str]:
    return {p.name: file_sha256(p) for p in paths}
