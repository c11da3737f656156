"""Outcomes: how each request ended, recorded once. ``outcome`` (the ``RequestOutcome`` and how an error
maps to a status), ``ending`` (the one place a request ends: answered, refused, failed or cancelled, streamed
or not) and ``recorder`` (hands every outcome to its sinks: today the escalation log; telemetry and metrics
hang here).

May import: core, storage, decision (the dispatcher's completion types).
"""
