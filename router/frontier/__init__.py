"""The frontier: Tier 3 and its money. ``providers`` (filters and strategies), ``pricing`` (prices and
estimates, genai-prices), ``budgets`` (reservations that are never overspent), ``caps`` (daily call caps),
``rate_limits`` (per-workspace requests and tokens per minute), ``availability`` (cool-downs and health),
``keys`` (bring-your-own keys, encrypted), ``ledger`` (plan, admit, settle or fail one request) and
``pool`` (the pool that runs that loop over injected engines).

May import: core, storage.
"""
