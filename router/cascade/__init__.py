"""The cascade: deciding after a local tier has answered. ``forms`` (what kind of answer the prompt asks for),
``extract`` (the comparable final answer of each form), ``compare`` (do the local answers agree) and
``score`` (the calibrated ``escalation_score`` that weighs agreement, form, the self-assessment and the
prompt's routing score) and ``recalibration`` (a workspace's own correction of that score, fitted by
``tiered-router tune`` and set as ``cascade.recalibration``). Pure functions over text: no model calls, and generated code is parsed, never run.

May import: core.
"""
