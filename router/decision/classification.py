"""What a classifier says about a prompt, and the classifier interface.

The micro model (Tier 1) and the fast learned classifier both produce a ``Classification``;
the dispatcher turns it into a routing score and a tier. Classifiers are registered by name,
with no side effects at import (the registry is filled by ``register``).
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Intent = Literal[
    "greeting", "factual", "reasoning", "math", "code", "summarization", "creative", "extraction", "command", "other"
]
INTENTS: tuple[str, ...] = Intent.__args__  # type: ignore[attr-defined]


class Classification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intent: Intent
    requires_reasoning: bool
    complexity_score: float = Field(ge=0.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0, description="how sure the classifier is of its own fields")
    recommended_tier: Literal[1, 2, 3]
    action: str | None = Field(default=None, description="a registered Tier 0 command to run, if any")
    target: str | None = Field(default=None, description="the action's argument, if any")
    safety_flag: bool = False
    safety_reason: str | None = None
    hallucination_risk: float = Field(
        default=0.0, ge=0.0, le=1.0, description="how likely a small model is to make facts up here"
    )


class Classifier(ABC):
    """Classifies a prompt from its text alone; must not call a network service."""

    name: ClassVar[str]

    @abstractmethod
    def classify(self, text: str) -> Classification: ...


CLASSIFIERS: dict[str, type[Classifier]] = {}


def register(cls: type[Classifier]) -> type[Classifier]:
    CLASSIFIERS[cls.name] = cls
    return cls


def load_classifier(name: str, **options: Any) -> Classifier | None:
    """The named classifier built with ``options``, importing its module on first use; None when it
    is not installed."""
    if name not in CLASSIFIERS:
        import importlib

        try:
            importlib.import_module(f"router.decision.{name}_classifier")
        except ModuleNotFoundError:
            return None
    cls = CLASSIFIERS.get(name)
    return cls(**options) if cls is not None else None
