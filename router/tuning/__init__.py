"""Tuning: ``tiered-router tune`` reads the routing telemetry and the callers' feedback and reports
over- and under-escalation, cost and latency per provider, and suggested thresholds with their evidence;
with enough feedback it refits the escalation-score calibration on the workspace's own traffic.

May import: core, storage, telemetry, cascade, evaluation.
"""
