"""The decision: where a request is answered. ``safety`` (the input screen), ``commands`` (Tier 0),
``hints`` and ``policy`` (caller hints, workspace bounds, model aliases), ``classification``,
``learned_classifier``, ``features``, ``micro_router`` and ``scoring`` (what the prompt looks like),
``planning`` (the plan), ``self_assessment`` (Tier 2's grade of itself), ``concurrency`` (per-tier slots)
and ``dispatcher`` (walks the tiers, escalating). It receives tiers as plain async callables and never
performs I/O of its own.

May import: core, storage (the workspace type), cascade (Tier 2's escalation score).
"""
