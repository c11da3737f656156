"""The readable text form of a ``TuneReport``."""

from router.core.cascade_settings import RECALIBRATION_FILLS
from router.tuning.escalation import REASONS
from router.tuning.report import TuneReport
from router.tuning.thresholds import Suggestion


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _suggestion(s: Suggestion) -> list[str]:
    if s.status in ("no_feedback", "not_enough_evidence", "target_unreachable"):
        return [f"  {s.key}: {s.current:g} (kept) - {s.note}"]
    head = (f"  {s.key}: {s.current:g} -> {s.suggested:g}" if s.status == "suggested"
            else f"  {s.key}: {s.current:g} (keep)")
    return [
        f"{head}   on {s.rows} local answers with feedback",
        f"    frontier share of the {s.population} requests with {s.signal}: "
        f"{_pct(s.frontier_share_current)} -> {_pct(s.frontier_share_suggested)}; "
        f"bad-answer rate {_pct(s.bad_rate_current)} -> {_pct(s.bad_rate_suggested)}",
        f"    evidence: {s.note}",
    ]


def _refit(report: TuneReport) -> list[str]:
    r = report.refit
    lines = [f"Score calibration refit ({r.fit_rows} Tier 2 answers with feedback; "
             f"{r.eligible_rows} rows at or escalated from Tier 2):"]
    if r.status != "fitted":
        return [*lines, f"  {r.note}"]
    c = r.recalibration
    assert c is not None  # a fitted refit always carries one
    terms = "".join(f" {'-' if w < 0 else '+'} {abs(w):.4f} * {name}" for name, w in c.weights.items())
    fills = ", ".join(f"{name} {fill:g}" for name, fill in RECALIBRATION_FILLS.items())
    lines += [
        f"  P(bad) = sigmoid({c.intercept:.4f}{terms})   train {r.train_rows}, held out {r.held_out_rows}, "
        f"seed {r.seed}",
        f"  (escalation_logit = logit(escalation_score); a missing signal reads as {fills})",
        f"  held-out log loss {r.log_loss_before:.4f} -> {r.log_loss_after:.4f}",
    ]
    if r.apgr_before is not None:
        lines.append(f"  held-out APGR {r.apgr_before:.4f} -> {r.apgr_after:.4f}")
    lines += [f"  {r.note}", f"  ({r.apgr_definition})"]
    return lines


def format_report(report: TuneReport) -> str:
    scope = f"workspace {report.workspace_id}" if report.workspace_id else "all workspaces"
    o, u = report.over_escalation, report.under_escalation
    lines = [
        f"tiered-router tune: {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC, {scope}: "
        f"{report.requests} requests, {report.feedback_rows} with feedback",
        "",
        f"Over-escalation: {o.count} of {o.frontier_requests} Tier 3 requests ({_pct(o.share)}), "
        f"costing ${o.cost_usd}",
    ]
    lines += [f"  {count:5d}  {REASONS[reason]}" for reason, count in o.by_reason.items()]
    if o.examples:
        lines.append(f"  e.g. {', '.join(o.examples)}")
    lines += ["", f"Under-escalation: {u.count} bad answers of {u.low_tier_feedback} local answers with feedback "
                  f"({_pct(u.share)})"]
    if u.by_tier:
        lines.append("  by tier: " + ", ".join(f"tier {tier}: {n}" for tier, n in u.by_tier.items()))
    if u.examples:
        lines.append(f"  e.g. {', '.join(u.examples)}")
    lines += ["", "Providers:"]
    if report.providers:
        lines.append(f"  {'provider':<24} {'requests':>8} {'failed':>6} {'cost USD':>12} {'p50 ms':>8} {'p95 ms':>8}")
        lines += [f"  {p.provider:<24} {p.requests:>8} {p.failed:>6} {p.cost_usd:>12} {_ms(p.latency_p50_ms):>8} "
                  f"{_ms(p.latency_p95_ms):>8}" for p in report.providers]
    else:
        lines.append("  none in this window")
    lines += ["", f"Suggested thresholds (target: local bad-feedback rate <= {report.target_bad_rate:.0%}; Tier 3 "
                  f"answers' mean feedback {report.frontier_mean_feedback:.3f} on {report.frontier_feedback_rows}):"]
    for suggestion in report.suggestions:
        lines += _suggestion(suggestion)
    lines += ["", *_refit(report)]
    return "\n".join(lines)
