"""The routing brain: decisions and records, pure Python. Imports no Ray, web framework or model SDK.

Packages, and the sibling packages each may import (``tests/unit/test_boundaries.py`` enforces it):

    core        types, the error tree, the config schema              -> (nothing; models.kinds)
    storage     the database, its schema, workspaces, escalation log  -> core
    cascade     comparing local answers, the escalation score         -> core
    decision    screen, commands, hints, classification, planning,    -> core, storage, cascade
                the dispatcher that walks the tiers
    frontier    Tier 3: providers, prices, budgets, caps, keys,       -> core, storage
                availability, the ledger and the pool
    outcomes    how each request ended, and where that is recorded    -> core, storage, decision
    admin       workspace administration and its CLI                  -> core, storage, frontier
    evaluation  offline routing, metrics, fitting, the eval CLI       -> core, decision, frontier, cascade
"""
