"""Fitting the learned classifier: two L2-regularised logistic regressions in numpy, deterministic.

Heads, both over the same features (``router.decision.features``):

* ``fail``: P(the weak model answers wrongly), the label ``1 - quality|weak``;
* ``gain``: P(the weak model is wrong and the strong one right), ``quality|strong * (1 - quality|weak)``:
  the share of the quality gap that sending this prompt up would recover.

The hashed n-grams get a much stronger penalty than the hand-made cues: they may only nudge the
estimate (there are thousands of them and 2,000 rows), while the cues carry what should transfer to
other data. The optimiser is Nesterov's accelerated gradient with a fixed step and a fixed number of
iterations, so the same rows always give the same bytes (no random starts, no early stopping).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router.decision.features import (
    DENSE_NAMES,
    HASH_DIM,
)
from router.decision.learned_classifier import ClassifierParams, Head, encode
from router.evaluation.data import STRONG_MODEL, WEAK_MODEL, RoutingRecord

DENSE_PENALTY = 1e-2
HASHED_PENALTY = 1e-1
ITERATIONS = 600
DECIMALS = 7  # parameters are stored rounded: smaller files, and no last-bit noise between machines


@dataclass(frozen=True)
class Design:
    """The fitting inputs: dense cues, hashed n-grams as coordinate lists, and the fixed offsets."""

    dense: np.ndarray  # n x d
    rows: np.ndarray  # hashed n-grams: row, column, value of each non-zero entry
    cols: np.ndarray
    vals: np.ndarray
    offset: np.ndarray  # n


def design(prompts: Sequence[str]) -> Design:
    dense = np.zeros((len(prompts), len(DENSE_NAMES)))
    offset = np.zeros(len(prompts))
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, prompt in enumerate(prompts):
        cues, hashed, _, offset[i] = encode(prompt)
        dense[i] = cues
        for index, value in sorted(hashed.items()):
            rows.append(i)
            cols.append(index)
            vals.append(value)
    return Design(dense, np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(vals), offset)


def _dense_norm2(dense: np.ndarray) -> float:
    """Squared spectral norm of [1, dense] (exact: a small Gram matrix)."""
    block = np.hstack([np.ones((len(dense), 1)), dense])
    return float(np.linalg.eigvalsh(block.T @ block)[-1])


def _hashed_norm2(d: Design, n: int) -> float:
    """Squared spectral norm of the hashed block, by power iteration from a fixed start (upper-rounded)."""
    v = np.ones(HASH_DIM) / np.sqrt(HASH_DIM)
    value = 0.0
    for _ in range(50):
        u = np.bincount(d.rows, weights=d.vals * v[d.cols], minlength=n)
        v = np.bincount(d.cols, weights=d.vals * u[d.rows], minlength=HASH_DIM)
        value = float(np.linalg.norm(v))
        if value == 0.0:
            return 0.0
        v /= value
    return 1.1 * value


def _logistic(d: Design, dense: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Minimise mean log-loss + penalties; returns [bias, dense weights..., hashed weights...].

    ``dense`` is the standardised dense block; the hashed block stays sparse (bincount products)."""
    n, k = dense.shape
    w_dense = np.zeros(k)
    w_hash = np.zeros(HASH_DIM)
    bias = float(np.log((labels.mean() + 1e-3) / (1 - labels.mean() + 1e-3)))
    lipschitz = 0.25 * (_dense_norm2(dense) + _hashed_norm2(d, n)) / n + DENSE_PENALTY + HASHED_PENALTY
    step = 1.0 / lipschitz
    prev = (bias, w_dense, w_hash)
    for it in range(1, ITERATIONS + 1):
        momentum = (it - 1) / (it + 2)
        lb = bias + momentum * (bias - prev[0])
        ld = w_dense + momentum * (w_dense - prev[1])
        lh = w_hash + momentum * (w_hash - prev[2])
        margin = lb + dense @ ld + np.bincount(d.rows, weights=d.vals * lh[d.cols], minlength=n) + d.offset
        residual = (1.0 / (1.0 + np.exp(-np.clip(margin, -30, 30))) - labels) / n
        grad_b = residual.sum()
        grad_d = dense.T @ residual + DENSE_PENALTY * ld
        grad_h = np.bincount(d.cols, weights=d.vals * residual[d.rows], minlength=HASH_DIM) + HASHED_PENALTY * lh
        prev = (bias, w_dense, w_hash)
        bias, w_dense, w_hash = lb - step * grad_b, ld - step * grad_d, lh - step * grad_h
    return np.concatenate([[bias], w_dense, w_hash])


def fit(
    records: Sequence[RoutingRecord], *, weak: str = WEAK_MODEL, strong: str = STRONG_MODEL,
    source_sha256: str | None = None,
) -> ClassifierParams:
    """Fit both heads on ``records``; the same records give identical parameters."""
    if len(records) < 10:
        raise ValueError(f"need at least 10 rows to fit, got {len(records)}")
    inputs = design([r.prompt for r in records])
    dense = inputs.dense
    # Rounded before use so inference, which reads the stored (rounded) values, sees the same inputs.
    mean = np.round(dense.mean(axis=0), DECIMALS)
    scale = np.round(dense.std(axis=0), DECIMALS)
    scale[scale < 1e-6] = 1.0  # a cue constant in the data carries no information; keep it inert
    standardised = (dense - mean) / scale
    weak_ok = np.array([r.quality[weak] for r in records])
    strong_ok = np.array([r.quality[strong] for r in records])
    heads = {}
    for name, labels in (("fail", 1.0 - weak_ok), ("gain", strong_ok * (1.0 - weak_ok))):
        w = np.round(_logistic(inputs, standardised, labels), DECIMALS)
        d = dense.shape[1]
        heads[name] = Head(bias=float(w[0]), dense=w[1:1 + d].tolist(), hashed=w[1 + d:].tolist())
    return ClassifierParams(
        hash_dim=HASH_DIM, dense_names=list(DENSE_NAMES),
        dense_mean=mean.tolist(), dense_scale=scale.tolist(),
        fail=heads["fail"], gain=heads["gain"], rows=len(records), weak_model=weak, strong_model=strong,
        source_sha256=source_sha256,
    )
