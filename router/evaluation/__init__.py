"""Evaluation and fitting, all offline: the public routing data (``data``), APGR and cost metrics
(``metrics``), cross-validated routing evaluation (``routing``), fitting the learned classifier
(``fitting``), routing a file of prompts without generating (``offline``) and the ``tiered-router eval``
CLI (``cli``).

May import: core, decision, frontier, cascade.
"""
