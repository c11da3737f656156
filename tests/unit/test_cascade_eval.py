"""The cascade form offline: calibrated on the shared train files, scored k-fold, rebuilt byte for byte."""

from pathlib import Path

import pytest

from deployments.cli import main
from router.cascade.score import shipped_params
from router.core.config import RouterConfig
from router.evaluation.cascade import (
    fit_cascade,
    out_of_fold_routing_scores,
    params_json,
    read_answers,
    sources,
)
from router.evaluation.data import read_routerbench

ROUTERBENCH = Path(__file__).resolve().parents[3] / "shared" / "eval" / "routerbench"
TRAIN, ANSWERS = ROUTERBENCH / "train.csv", ROUTERBENCH / "train_answers.csv"
needs_train = pytest.mark.skipif(not ANSWERS.is_file(), reason=f"{ANSWERS} not present")
SHIPPED = Path(__file__).resolve().parents[2] / "router" / "data" / "cascade_params.json"


@needs_train
def test_the_shipped_cascade_parameters_are_a_fresh_fit_of_the_train_files():
    records, answers = read_routerbench(TRAIN), read_answers(ANSWERS)
    routing = out_of_fold_routing_scores(records, RouterConfig(), folds=5)
    fitted = fit_cascade(records, answers, routing, sources=sources(TRAIN, ANSWERS))
    assert params_json(fitted) == SHIPPED.read_text()
    assert shipped_params().source_sha256 == sources(TRAIN, ANSWERS)


@needs_train
def test_eval_scores_the_cascade_form_beside_its_baselines_and_draws_it(tmp_path, capsys):
    plot = tmp_path / "cascade.png"
    assert main(["eval", "--data", str(TRAIN), "--answers", str(ANSWERS), "--second-opinion",
                 "mistralai/mixtral-8x7b-chat", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = {line[:24].strip(): float(line[24:32]) for line in out.splitlines()
            if line[:24].strip() in ("cascade (calibrated)", "agreement only", "prompt only", "random", "oracle")}
    assert rows["oracle"] > rows["cascade (calibrated)"] > rows["agreement only"] > rows["prompt only"] > rows["random"]
    assert "5-fold cross-validation" in out and "cost counts every local call" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_refuses_a_missing_answers_file_or_an_unknown_second_opinion(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("sample_id,eval_name,prompt\n")
    assert main(["eval", "--data", str(data), "--answers", str(tmp_path / "none.csv")]) == 2
    assert "no such answers file" in capsys.readouterr().err
