"""``tiered-router tune`` on synthetic traffic planted in a temporary SQLite database (no Ray)."""

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import yaml

from deployments.cli import main
from router.core.config import RouterConfig, load_config
from router.storage.telemetry import DecisionRecord, TelemetryStore
from router.storage.workspaces import WorkspaceStore
from router.tuning.report import TuneReport
from router.tuning.thresholds import MIN_EVIDENCE

WS = "ws_acme"
TARGET = 0.10
DEFAULTS = RouterConfig()


def record(request_id: str, minutes_ago: float = 1.0, **fields) -> DecisionRecord:
    values = dict(request_id=request_id, workspace_id=WS, channel="http", operation="chat", status="answered",
                  latency_ms=120.0, at=datetime.now(UTC) - timedelta(minutes=minutes_ago))
    values.update(fields)
    return DecisionRecord(**values)


def plant(db, rows: list[DecisionRecord], scores: dict[str, float]) -> None:
    store = TelemetryStore(db)
    store.insert_many(rows)
    for request_id, score in scores.items():
        store.put_feedback(WS, request_id, score)


def threshold_traffic(n: int = 240, seed: int = 1, *, signals_track: bool = False
                      ) -> tuple[list[DecisionRecord], dict[str, float]]:
    """Tier 2 answers whose escalation score says exactly when they are bad: bad from 0.6 up (collected under a
    permissive threshold), plus Tier 3 answers callers liked. With a 10% target the local bad rate below t,
    (t - 0.6) / t for uniform scores, allows t up to about 0.67. With ``signals_track`` the self-assessment
    (1 - score) and the routing score (= score) carry the same information; otherwise they are constant."""
    rng = np.random.default_rng(seed)
    rows, scores = [], {}
    for i, s in enumerate(rng.uniform(0, 1, n)):
        rid = f"t2-{i}"
        rows.append(record(rid, i * 0.1, tier=2, tier_path=[2], escalation_score=float(s), agreement=1.0 - float(s),
                           self_quality=1.0 - float(s) if signals_track else 0.8,
                           routing_score=float(s) if signals_track else 0.3))
        scores[rid] = 0.0 if s >= 0.6 else 1.0
    for i in range(30):
        rid = f"t3-{i}"
        rows.append(record(rid, i * 0.1, tier=3, tier_path=[2, 3], provider="cloud", escalation_kinds=["disagreement"],
                           escalation_score=0.95, self_quality=0.2, agreement=0.1, cost_usd=Decimal("0.002")))
        scores[rid] = 1.0
    return rows, scores


def tune(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["tune", *argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def report_of(capsys, db, *argv: str) -> TuneReport:
    rc, out, err = tune(capsys, "--db", db.url, "--json", *argv)
    assert rc == 0, err
    return TuneReport.model_validate_json(out)


def suggestion(report: TuneReport, key: str):
    return next(s for s in report.suggestions if s.key == key)


def test_cascade_threshold_follows_where_local_answers_turn_bad(db, capsys):
    rows, scores = threshold_traffic()
    plant(db, rows, scores)
    s = suggestion(report_of(capsys, db), "cascade.threshold")
    assert s.status == "suggested" and s.current == DEFAULTS.cascade.threshold
    assert 0.6 <= s.suggested <= 0.72
    # Checked against the planted rows directly: the local answers kept below t are bad at most 10% of the time.
    kept = [scores[r.request_id] < 0.5 for r in rows if r.tier == 2 and r.escalation_score < s.suggested]
    assert sum(kept) / len(kept) <= TARGET
    assert s.rows == 240  # the Tier 2 answers with feedback; the Tier 3 ones are not evidence of the local tier
    assert s.frontier_share_suggested < s.frontier_share_current  # a higher threshold pays the frontier less
    assert s.bad_rate_current <= s.bad_rate_suggested <= TARGET


def test_quality_and_frontier_score_follow_their_signals(db, capsys):
    plant(db, *threshold_traffic(signals_track=True))
    report = report_of(capsys, db)
    # Escalating below t on self-quality: bad answers graded themselves 0.4 or less; the bad share of those kept
    # (quality >= t), (0.4 - t) / (1 - t), meets 10% from t of about 0.33 up.
    quality = suggestion(report, "thresholds.quality")
    assert quality.status == "suggested" and 0.28 <= quality.suggested <= 0.40
    frontier = suggestion(report, "thresholds.frontier_score")
    assert frontier.status == "suggested" and 0.6 <= frontier.suggested <= 0.72
    assert quality.frontier_share_suggested < quality.frontier_share_current  # 0.7 sent more to Tier 3
    assert frontier.frontier_share_suggested < frontier.frontier_share_current  # 0.6 sent good answers up
    assert frontier.bad_rate_current <= frontier.bad_rate_suggested <= TARGET


def test_a_stricter_target_lowers_the_suggestion(db, capsys):
    plant(db, *threshold_traffic())
    loose = suggestion(report_of(capsys, db, "--target-bad-rate", "0.2"), "cascade.threshold").suggested
    strict = suggestion(report_of(capsys, db, "--target-bad-rate", "0.0"), "cascade.threshold").suggested
    assert strict <= 0.61 < loose


def test_a_signal_that_does_not_separate_moves_nothing(db, capsys):
    # In the planted traffic every Tier 2 answer graded itself 0.8 and had routing score 0.3, good or bad:
    # only "send everything to Tier 3" would meet the target, which is no threshold advice.
    plant(db, *threshold_traffic())
    report = report_of(capsys, db)
    for key in ("thresholds.quality", "thresholds.frontier_score"):
        s = suggestion(report, key)
        assert s.status == "target_unreachable" and s.suggested == s.current and "does not separate" in s.note
    assert set(report.changes()) == {"cascade.threshold"}


def test_over_escalation_counts_exactly_the_planted_rows(db, capsys):
    planted = {  # request id -> cost; each matches at least one rule
        "close-1": "0.01", "close-2": "0.01", "close-3": "0.01",  # disagreement just over 0.5, self-quality high
        "confident-1": "0.02", "confident-2": "0.02",  # started at 3, confident and simple
        "agreed-1": "0.03",  # the answers agreed, escalated anyway
        "close-and-agreed": "0.04",  # two reasons, one request
    }
    frontier = dict(tier=3, provider="cloud")
    rows = [
        *(record(rid, tier_path=[2, 3], escalation_kinds=["disagreement"], escalation_score=0.55, self_quality=0.9,
                 agreement=0.4, cost_usd=Decimal(planted[rid]), **frontier) for rid in ("close-1", "close-2", "close-3")),
        *(record(rid, tier_path=[3], confidence=0.9, complexity=0.2, cost_usd=Decimal(planted[rid]), **frontier)
          for rid in ("confident-1", "confident-2")),
        record("agreed-1", tier_path=[2, 3], escalation_kinds=["disagreement"], escalation_score=0.8,
               self_quality=0.3, agreement=1.0, cost_usd=Decimal("0.03"), **frontier),
        record("close-and-agreed", tier_path=[2, 3], escalation_kinds=["disagreement"], escalation_score=0.52,
               self_quality=0.95, agreement=0.995, cost_usd=Decimal("0.04"), **frontier),
        # Look alike, but the evidence backed Tier 3:
        record("clear-disagreement", tier_path=[2, 3], escalation_kinds=["disagreement"], escalation_score=0.9,
               self_quality=0.9, agreement=0.2, cost_usd=Decimal("1"), **frontier),
        record("close-but-unsure", tier_path=[2, 3], escalation_kinds=["disagreement"], escalation_score=0.55,
               self_quality=0.4, agreement=0.4, cost_usd=Decimal("1"), **frontier),
        record("tier2-failed", tier_path=[2, 3], escalation_kinds=["error"], agreement=1.0, cost_usd=Decimal("1"),
               **frontier),
        record("unsure-start", tier_path=[3], confidence=0.5, complexity=0.2, cost_usd=Decimal("1"), **frontier),
        record("caller-asked", tier_path=[3], requested_tier=3, confidence=0.9, complexity=0.2,
               cost_usd=Decimal("1"), **frontier),
        record("local", tier=2, tier_path=[2], escalation_score=0.51, self_quality=0.9, agreement=1.0),
    ]
    plant(db, rows, {})
    over = report_of(capsys, db).over_escalation
    assert over.count == len(planted) and over.frontier_requests == 12
    assert set(over.examples) <= set(planted) and len(over.examples) == 5
    assert Decimal(over.cost_usd) == sum(Decimal(c) for c in planted.values())
    assert over.by_reason == {"close_call": 4, "confident_start": 2, "agreed": 2}
    assert over.share == pytest.approx(7 / 12, abs=1e-4)


def test_under_escalation_and_providers(db, capsys):
    rows = [record(f"t1-{i}", tier=1, tier_path=[1], provider=None) for i in range(4)]
    rows += [record(f"t2-{i}", tier=2, tier_path=[2]) for i in range(6)]
    rows += [record(f"c-{i}", tier=3, tier_path=[3], provider="cloud", latency_ms=100.0 * (i + 1),
                    cost_usd=Decimal("0.5"), status="answered" if i < 8 else "failed") for i in range(10)]
    bad = {"t1-0": 0.0, "t2-1": 0.2, "t2-2": 0.4}
    plant(db, rows, {**bad, "t1-1": 1.0, "t2-0": 0.5, "t2-3": 0.9, "c-0": 0.0})
    report = report_of(capsys, db)
    under = report.under_escalation
    assert under.count == 3 and under.low_tier_feedback == 6  # c-0 is a Tier 3 answer: not under-escalation
    assert under.by_tier == {"1": 1, "2": 2} and set(under.examples) == set(bad)
    assert under.share == pytest.approx(0.5)
    (cloud,) = report.providers
    assert (cloud.provider, cloud.requests, cloud.failed, Decimal(cloud.cost_usd)) == ("cloud", 10, 2, Decimal(5))
    assert (cloud.latency_p50_ms, cloud.latency_p95_ms) == (500.0, 1000.0)


def test_text_report_reads_well(db, capsys):
    plant(db, *threshold_traffic())
    rc, out, err = tune(capsys, "--db", db.url)
    assert rc == 0, err
    s = suggestion(report_of(capsys, db), "cascade.threshold")
    for expected in ("Over-escalation:", "Under-escalation:", "Providers:", "cloud", "Suggested thresholds",
                     f"cascade.threshold: 0.5 -> {s.suggested:g}", "frontier share", "bad-answer rate",
                     "Score calibration refit", "APGR"):
        assert expected in out


def test_little_feedback_is_not_enough_evidence(db, capsys, tmp_path):
    rows, scores = threshold_traffic()
    plant(db, rows, dict(list(scores.items())[:MIN_EVIDENCE - 1]))
    report = report_of(capsys, db)
    for s in report.suggestions:
        assert s.status == "not_enough_evidence" and s.suggested == s.current
    assert report.refit.status == "not_enough_evidence" and report.refit.apgr_before is None
    rc, out, _ = tune(capsys, "--db", db.url, "--apply", str(tmp_path / "out.yaml"))
    assert rc == 0 and "not enough evidence" in out and "no threshold changes suggested" in out
    assert load_config(tmp_path / "out.yaml") == DEFAULTS


def test_no_feedback_suggests_nothing(db, capsys):
    rows, _ = threshold_traffic()
    plant(db, rows, {})
    s = suggestion(report_of(capsys, db), "cascade.threshold")
    assert s.status == "no_feedback" and s.suggested == s.current and "no feedback" in s.note


def test_apply_writes_a_loadable_config_with_the_suggestions(db, capsys, tmp_path):
    plant(db, *threshold_traffic())
    source = tmp_path / "router.yaml"
    source.write_text(yaml.safe_dump({"frontier": {"daily_cap": 7}, "cascade": {"samples": 3}}))
    before = source.read_bytes()
    out = tmp_path / "tuned.yaml"
    rc, text, err = tune(capsys, "--db", db.url, "--config", str(source), "--apply", str(out))
    assert rc == 0, err
    report = report_of(capsys, db, "--config", str(source))
    tuned = load_config(out)
    assert report.changes(), "the planted traffic should move cascade.threshold"
    for key, (old, new) in report.changes().items():
        section, field = key.split(".")
        assert getattr(getattr(tuned, section), field) == new
        assert f"- {key}: {old:g}" in text and f"+ {key}: {new:g}" in text
    assert tuned.frontier.daily_cap == 7 and tuned.cascade.samples == 3  # the rest of --config is kept
    assert source.read_bytes() == before


def test_apply_without_config_writes_only_the_changed_keys(db, capsys, tmp_path):
    plant(db, *threshold_traffic())
    out = tmp_path / "tuned.yaml"
    rc, _, err = tune(capsys, "--db", db.url, "--apply", str(out))
    assert rc == 0, err
    report = report_of(capsys, db)
    written = yaml.safe_load(out.read_text())
    assert {f"{section}.{field}" for section, block in written.items() for field in block} == set(report.changes())
    assert load_config(out).cascade.threshold == suggestion(report, "cascade.threshold").suggested


def test_apply_refuses_to_overwrite_the_config(db, capsys, tmp_path):
    plant(db, *threshold_traffic())
    source = tmp_path / "router.yaml"
    source.write_text("cascade:\n  threshold: 0.5\n")
    rc, _, err = tune(capsys, "--db", db.url, "--config", str(source), "--apply", str(source))
    assert rc == 2 and "--config file itself" in err
    assert source.read_text() == "cascade:\n  threshold: 0.5\n"


def test_workspace_filter_by_name(db, capsys):
    acme = WorkspaceStore(db).create("acme", with_api_key=False, workspace_id=WS).workspace
    rows, scores = threshold_traffic(n=30)
    plant(db, rows + [record("other", workspace_id="ws_other", tier=2, tier_path=[2])], scores)
    assert report_of(capsys, db).requests == 61
    report = report_of(capsys, db, "--workspace", acme.name)
    assert report.requests == 60 and report.workspace_id == WS


@pytest.mark.parametrize("argv, words", [
    (["--workspace", "nobody"], "nobody"),
    (["--since", "last tuesday"], "since"),
    (["--since", "1h", "--until", "2h"], "must be before"),
])
def test_user_errors_exit_2_with_one_line(db, capsys, argv, words):
    rc, out, err = tune(capsys, "--db", db.url, *argv)
    assert rc == 2 and out == ""
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("content", [None, b"this is not a database, just text" * 100])
def test_unreadable_database_exits_2(tmp_path, capsys, content):
    path = tmp_path / "router.db"
    if content is not None:
        path.write_bytes(content)
    rc, out, err = tune(capsys, "--db", str(path))
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert path.exists() == (content is not None)  # a missing database is reported, not created


def refit_traffic(n: int = 400, seed: int = 3) -> tuple[list[DecisionRecord], dict[str, float]]:
    """Tier 2 answers whose escalation score ranks bad answers well but is miscalibrated: the true chance of a
    bad answer is sigmoid(3 * logit(score) - 1), far steeper than the score says."""
    rng = np.random.default_rng(seed)
    rows, scores = [], {}
    for i, s in enumerate(rng.uniform(0.02, 0.98, n)):
        rid = f"r-{i}"
        p_bad = 1 / (1 + math.exp(-(3 * math.log(s / (1 - s)) - 1)))
        rows.append(record(rid, i * 0.1, tier=2, tier_path=[1, 2], escalation_score=float(s)))
        scores[rid] = 0.0 if rng.uniform() < p_bad else 1.0
    rows += [record(f"f-{i}", tier=3, tier_path=[1, 2, 3], escalation_score=0.9) for i in range(20)]
    scores.update({f"f-{i}": 1.0 if i % 10 else 0.5 for i in range(20)})
    return rows, scores


def test_refit_that_only_rescales_does_not_claim_a_gain(db, capsys):
    plant(db, *refit_traffic())
    refit = report_of(capsys, db).refit
    assert refit.status == "fitted" and refit.fit_rows == 400 and refit.eligible_rows == 420
    assert refit.train_rows + refit.held_out_rows == 400 and refit.held_out_rows >= 100
    assert refit.recalibration.weights["escalation_logit"] > 1.5  # the steeper truth is found
    assert refit.log_loss_after < refit.log_loss_before
    assert refit.strong_quality == pytest.approx(0.95)  # mean feedback of the Tier 3 answers
    # The other signals are missing (constant fills): the ranking, so the APGR, cannot change.
    assert refit.apgr_before > 0.6 and refit.apgr_after == refit.apgr_before
    assert not refit.helped and "did not help on held-out data" in refit.note
    assert "feedback score" in refit.apgr_definition
    assert report_of(capsys, db).refit == refit  # fixed seed: the same fit every time


def test_a_refit_that_does_not_help_is_not_applied(db, capsys, tmp_path):
    plant(db, *refit_traffic())
    out = tmp_path / "tuned.yaml"
    rc, text, err = tune(capsys, "--db", db.url, "--apply", str(out))
    assert rc == 0, err
    assert load_config(out).cascade.recalibration is None
    assert "cascade.recalibration not written: the refit did not help on held-out data" in out.read_text()
    assert "cascade.recalibration not written: the refit did not help" in text
    assert json.loads(tune(capsys, "--db", db.url, "--json")[1])["refit"]["status"] == "fitted"


def test_a_perfect_escalation_score_leaves_nothing_to_gain(db, capsys):
    plant(db, *threshold_traffic())  # bad exactly from score 0.6 up: no ranking beats it
    refit = report_of(capsys, db).refit
    assert refit.status == "fitted" and not refit.helped and refit.apgr_after <= refit.apgr_before


def quality_traffic(n: int = 400, seed: int = 5) -> tuple[list[DecisionRecord], dict[str, float]]:
    """Tier 2 answers whose self-assessment says what the escalation score barely does: the true chance of a bad
    answer is sigmoid(0.5 * logit(score) + 8 * (0.5 - self_quality)). Some rows lack a self-assessment."""
    rng = np.random.default_rng(seed)
    rows, scores = [], {}
    for i in range(n):
        s, q = float(rng.uniform(0.02, 0.98)), float(rng.uniform(0, 1))
        p_bad = 1 / (1 + math.exp(-(0.5 * math.log(s / (1 - s)) + 8 * (0.5 - q))))
        rid = f"q-{i}"
        rows.append(record(rid, i * 0.1, tier=2, tier_path=[2], escalation_score=s, agreement=0.5 + 0.5 * (i % 2),
                           self_quality=None if i % 10 == 0 else q, routing_score=0.4))
        scores[rid] = 0.0 if rng.uniform() < p_bad else 1.0
    return rows, scores


def test_refit_on_a_signal_the_score_lacks_ranks_held_out_answers_better(db, capsys):
    plant(db, *quality_traffic())
    refit = report_of(capsys, db).refit
    assert refit.status == "fitted" and refit.held_out_rows == 120
    assert refit.recalibration.weights["self_quality"] < -1.0  # a high self-grade means a good answer
    assert refit.apgr_after > refit.apgr_before + 0.05  # measured on rows the fit never saw
    assert refit.log_loss_after < refit.log_loss_before
    assert refit.helped and "--apply writes it" in refit.note
    assert "400 Tier 2 answers" in refit.recalibration.fitted_on and WS in refit.recalibration.fitted_on


def test_a_refit_that_helps_is_applied_as_real_config(db, capsys, tmp_path):
    plant(db, *quality_traffic())
    out = tmp_path / "tuned.yaml"
    argv = ("--target-bad-rate", "0.4")  # loose enough that cascade.threshold is suggested too
    rc, text, err = tune(capsys, "--db", db.url, "--apply", str(out), *argv)
    assert rc == 0, err
    report = report_of(capsys, db, *argv)
    tuned = load_config(out)
    assert tuned.cascade.recalibration == report.refit.recalibration
    assert "+ cascade.recalibration: intercept" in text
    # A threshold swept on the old score does not belong to the new one: it is kept, and both outputs say why.
    assert "cascade.threshold" in report.changes() and tuned.cascade.threshold == DEFAULTS.cascade.threshold
    assert "cascade.threshold suggestion not written: swept on the recorded score" in out.read_text()
    assert "cascade.threshold 0.5 -> " in text and "not written: swept on the recorded score" in text
    assert tuned.thresholds.quality == report.changes()["thresholds.quality"][1]  # the other suggestions stand


def test_a_refit_does_not_replace_the_recalibration_the_traffic_ran_under(db, capsys, tmp_path):
    plant(db, *quality_traffic())
    existing = {"intercept": 0.0, "weights": {"escalation_logit": 1.0}, "fitted_on": "by hand"}
    source = tmp_path / "router.yaml"
    source.write_text(yaml.safe_dump({"cascade": {"recalibration": existing}}))
    out = tmp_path / "tuned.yaml"
    rc, text, err = tune(capsys, "--db", db.url, "--config", str(source), "--apply", str(out))
    assert rc == 0, err
    assert load_config(out).cascade.recalibration.fitted_on == "by hand"
    assert "already recalibrated" in text and "already recalibrated" in out.read_text()
