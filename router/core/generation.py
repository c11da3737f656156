"""What a tier is asked and what it answers: plain pydantic, shared by router/, models/ and deployments/.

These cross deployment-handle boundaries, so they hold only picklable, JSON-able data.
"""

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

CHARS_PER_TOKEN = 4  # the usual approximation for English text when no tokenizer is known
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per chat message
Tokenizer = Callable[[str], int]

Role = Literal["system", "user", "assistant", "tool", "developer"]


class Message(BaseModel):
    role: Role
    content: str


class GenerationRequest(BaseModel):
    request_id: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, gt=0, description="None: the tier's own limit")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="None: the tier's own default")
    stop: list[str] = Field(default_factory=list)
    workspace_id: str | None = Field(default=None, description="whose budget and provider keys the call uses")
    json_schema: dict[str, Any] | None = Field(
        default=None, description="constrain the output to this JSON schema where the engine supports it"
    )
    n: int = Field(default=1, ge=1, le=16, description="independent completions of the same prompt (samples)")
    provider: str | None = Field(default=None, description="Tier 3: only this provider of the pool may answer")


class Sample(BaseModel):
    """One completion beyond the first, when ``n`` asked for several."""

    text: str
    finish_reason: str = "stop"


class Usage(BaseModel):
    """Token counts of one call. ``prompt_tokens`` is every prompt token, cached ones included;
    ``cached_prompt_tokens`` of them were read from a prompt cache, ``cache_write_tokens`` were
    written to one (Anthropic bills those apart)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class Generation(BaseModel):
    """A finished answer from one model."""

    text: str
    reasoning: str | None = Field(default=None, description="the model's thinking, never shown as the answer")
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str = "stop"
    model: str
    provider: str
    latency_s: float = 0.0
    cost_usd: Decimal | None = Field(default=None, description="the real cost settled against the budget")
    skipped: list[str] = Field(default_factory=list, description="providers passed over before this one, and why")
    samples: list[Sample] = Field(default_factory=list, description="the other n - 1 completions (usage counts all)")


class StreamDelta(BaseModel):
    """A piece of a streamed answer; the last one of a stream carries usage and finish_reason."""

    text: str = ""
    reasoning: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    provider: str | None = None
    cost_usd: Decimal | None = None
    skipped: list[str] = Field(default_factory=list)


def count_prompt_tokens(prompt: str | Sequence[Message], tokenizer: Tokenizer | None = None) -> int:
    """Prompt tokens from the tokenizer where one is given, else about one per four characters."""
    def count(text: str) -> int:
        return tokenizer(text) if tokenizer is not None else math.ceil(len(text) / CHARS_PER_TOKEN)

    if isinstance(prompt, str):
        return count(prompt)
    return sum(count(m.content) + MESSAGE_OVERHEAD_TOKENS for m in prompt) + 2
