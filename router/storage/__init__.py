"""Storage: the one database (SQLite by default, PostgreSQL by URL) and what lives in it. ``database``
(engine, migrations runner, money as integer nano-dollars), ``schema`` (tables and migrations),
``workspaces`` (workspaces, their API keys and settings) and ``escalations`` (the escalation log).

May import: core.
"""
