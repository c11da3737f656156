"""``tiered-router eval`` end to end on small files written here (no Ray)."""

import csv
import json

import numpy as np
import pytest

from deployments.cli import build_parser, main
from router.core.config import RouterConfig
from router.evaluation import cli as eval_cli
from router.evaluation import routing as routing_eval
from router.evaluation.data import (
    LOCAL_STRONG_MODEL,
    STRONG_MODEL,
    WEAK_MODEL,
    read_routerbench,
)
from router.evaluation.routing import classify_records, fold_ids, report

MODELS = (WEAK_MODEL, LOCAL_STRONG_MODEL, STRONG_MODEL)
PROMPTS = [
    "Write a python function to merge two sorted lists.",
    "Which planet is closest to the Sun?\nA) Venus\nB) Mercury\nC) Mars\nD) Earth",
    r"Find the remainder when $2^{100}$ is divided by $7$.",
    "The trophy did not fit in the suitcase because _ was too big.\nA) trophy\nB) suitcase",
]


def write_csv(path, rows: int = 40) -> None:
    rng = np.random.default_rng(7)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "eval_name", "prompt", *(f"quality|{m}" for m in MODELS),
                         *(f"cost_usd|{m}" for m in MODELS)])
        for i in range(rows):
            weak = int(rng.integers(0, 2))
            writer.writerow([f"s{i}", "toy", repr([PROMPTS[i % len(PROMPTS)] + f" ({i})"]), weak, max(weak, 1 - i % 3 // 2),
                             1, 0.0001, 0.0003, 0.005])


def test_eval_is_registered_in_the_cli():
    args = build_parser().parse_args(["eval", "--data", "x.csv", "--folds", "3"])
    assert args.command == "eval" and args.folds == 3 and args.func is eval_cli.cmd_eval
    assert eval_cli.DEFAULT_CLOUD_AT == routing_eval.DEFAULT_CLOUD_AT


def test_eval_prints_the_table_and_writes_a_png(tmp_path, capsys):
    data, plot = tmp_path / "bench.csv", tmp_path / "out" / "curve.png"
    write_csv(data)
    assert main(["eval", "--data", str(data), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    for expected in ("APGR", "CPT(95%)", "random (expectation)", "oracle", "all-weak", "all-strong", "three-way"):
        assert expected in out
    assert "shipped parameters" in out  # not the calibration file: no cross-validation
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_reads_levelled_jsonl(tmp_path, capsys):
    data = tmp_path / "math.jsonl"
    data.write_text("".join(json.dumps({"problem": p, "level": lv}) + "\n" for p, lv in
                            [("What is $1+1$?", 1), ("Compute $2+3$.", 1),
                             (r"Let $f(x)=x^3-3x+1$. Find the number of real $x$ with $f(f(x))=0$ and "
                              r"prove that the sum of their squares is an integer $n$; find $n$.", 5)]))
    assert main(["eval", "--data", str(data)]) == 0
    assert "Spearman" in capsys.readouterr().out


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["eval", "--data", str(bad)]) == 2
    assert "RouterBench-style CSV" in capsys.readouterr().err
    assert main(["eval", "--data", str(tmp_path / "missing.csv")]) == 2


def test_cross_validation_scores_every_row_with_a_model_that_did_not_see_it(tmp_path):
    data = tmp_path / "bench.csv"
    write_csv(data, rows=30)
    records = read_routerbench(data)
    config = RouterConfig()
    classifications, ids = classify_records(records, config, folds=3)
    assert ids is not None and sorted(np.bincount(ids).tolist()) == [10, 10, 10]
    result = report(records, classifications, config, ids=ids)
    assert len(result.fold_apgr) == 3 and 0.0 <= result.router.cpt95 <= 1.0
    assert fold_ids(30, 3).tolist() == ids.tolist()  # deterministic folds


def test_plot_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ValueError, match="needs matplotlib"):
        eval_cli.plot_curve(None, tmp_path / "x.png")  # type: ignore[arg-type]
