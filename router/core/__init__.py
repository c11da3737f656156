"""Core: what every other package speaks. The error tree (``errors``), the config schema (``config``,
``validation``), the generation types engines exchange (``generation``), the OpenAI-shaped API models and
the routing decision (``api``), and the tier contract the dispatcher and pool share (``tiers``).

May import: no sibling package. From outside router/, only ``models.kinds`` (the engine-kind table,
standard library only).
"""
