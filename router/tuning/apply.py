"""``--apply``: the suggested thresholds, and the refit recalibration when it helped, written into a router
config document for review.

Pure: takes the parsed YAML of ``--config`` (or nothing) and returns the new document and what changed; the
CLI validates it, writes it and never touches the input file or a running deployment.
"""

import copy
from typing import Any

import yaml
from pydantic import BaseModel

from router.tuning.refit import Refit
from router.tuning.report import TuneReport

RECALIBRATION = "cascade.recalibration"
THRESHOLD = "cascade.threshold"


class Change(BaseModel):
    key: str
    old: float | None = None
    new: float | None = None
    written: bool = True
    note: str | None = None  # what a non-numeric change is, or why a change was not written


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    block = document.get(name)
    if not isinstance(block, dict):
        block = document[name] = {}
    return block


def _existing(document: dict[str, Any] | None) -> object | None:
    block = (document or {}).get("cascade")
    return block.get("recalibration") if isinstance(block, dict) else None


def why_not(refit: Refit, existing: object | None) -> str | None:
    """Why the refit is not written as ``cascade.recalibration``; None: it is."""
    if refit.status != "fitted" or refit.recalibration is None:
        return refit.note
    if not refit.helped:
        return refit.note  # says the refit did not help, or that there was no routing gain to measure
    if existing is not None:
        # The telemetry records the score the threshold read: under a recalibration that is the recalibrated
        # one, so a refit on it would be applied to the shipped score it was not fitted on.
        return ("the traffic ran under the cascade.recalibration of --config, so its recorded escalation scores "
                "are already recalibrated and a refit on them does not apply to the shipped score; the existing "
                "one is kept")
    return None


def _recalibration_text(refit: Refit) -> str:
    r = refit.recalibration
    assert r is not None
    weights = ", ".join(f"{name} {w:g}" for name, w in r.weights.items())
    return (f"intercept {r.intercept:g}; {weights} (held-out APGR {refit.apgr_before:.4f} -> "
            f"{refit.apgr_after:.4f}, log loss {refit.log_loss_before:.4f} -> {refit.log_loss_after:.4f})")


_THRESHOLD_KEPT = ("swept on the recorded score, which the new cascade.recalibration replaces; kept, so the "
                   "threshold now reads the recalibrated P(bad): rerun tune on traffic under the new config")


def with_suggestions(document: dict[str, Any] | None, report: TuneReport) -> tuple[dict[str, Any], list[Change]]:
    """``document`` with each suggested value set; with no document, only the changed keys."""
    result: dict[str, Any] = copy.deepcopy(document) if document else {}
    refused = why_not(report.refit, _existing(document))
    changes = []
    for key, (old, new) in report.changes().items():
        if key == THRESHOLD and refused is None:
            changes.append(Change(key=key, old=old, new=new, written=False, note=_THRESHOLD_KEPT))
            continue
        section, field = key.split(".", 1)
        _section(result, section)[field] = new
        changes.append(Change(key=key, old=old, new=new))
    if refused is None:
        _section(result, "cascade")["recalibration"] = report.refit.recalibration.model_dump(mode="json")  # type: ignore[union-attr]
        changes.append(Change(key=RECALIBRATION, note=_recalibration_text(report.refit)))
    else:
        changes.append(Change(key=RECALIBRATION, written=False, note=refused))
    return result, changes


def _written(document: dict[str, Any], refit: Refit) -> bool:
    return refit.recalibration is not None and _existing(document) == refit.recalibration.model_dump(mode="json")


def header(document: dict[str, Any], report: TuneReport, source: str | None) -> str:
    """Comment lines for the top of the file: where it came from, and what became of the refit."""
    lines = [f"# written by tiered-router tune from {source or 'the schema defaults'} for review; "
             f"traffic {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}"]
    if _written(document, report.refit):
        lines.append(f"# {RECALIBRATION} refitted on this traffic: {_recalibration_text(report.refit)}")
        if THRESHOLD in report.changes():
            lines.append(f"# {THRESHOLD} suggestion not written: {_THRESHOLD_KEPT}")
    else:
        lines.append(f"# {RECALIBRATION} not written: {why_not(report.refit, _existing(document))}")
    return "\n".join(lines) + "\n"


def render(document: dict[str, Any], report: TuneReport, source: str | None) -> str:
    return header(document, report, source) + yaml.safe_dump(document, sort_keys=False)


def summary(changes: list[Change]) -> list[str]:
    lines = []
    if not any(c.new is not None for c in changes):
        lines.append("no threshold changes suggested")
    for c in changes:
        if c.new is not None and c.written:
            lines += [f"- {c.key}: {c.old:g}", f"+ {c.key}: {c.new:g}"]
        elif c.new is not None:
            lines.append(f"  {c.key} {c.old:g} -> {c.new:g} not written: {c.note}")
        elif c.written:
            lines.append(f"+ {c.key}: {c.note}")
        else:
            lines.append(f"  {c.key} not written: {c.note}")
    return lines
