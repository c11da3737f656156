"""Administration: creating and changing workspaces, their keys and budgets (``administration``), and the
``tiered-router workspace`` CLI over it (``workspace_cli``).

May import: core, storage, frontier (provider keys).
"""
