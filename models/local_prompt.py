"""The prompt of a locally served model: the tokenizer's chat template, and what room it leaves.

Shared by the engines that hold the tokenizer themselves (vLLM, transformers)."""

from typing import Any

from router.core.errors import ContextTooLong
from router.core.generation import GenerationRequest


def chat_prompt_ids(tokenizer: Any, request: GenerationRequest) -> list[int]:
    """Token ids of the chat template applied to the request, ready for the model's answer."""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # The template already holds the model's special tokens; adding them again would double the BOS.
    return list(tokenizer.encode(text, add_special_tokens=False))


def completion_room(prompt_ids: list[int], context_length: int, max_tokens: int, provider: str) -> int:
    """At most ``max_tokens``, and no more than the context leaves after the prompt."""
    room = context_length - len(prompt_ids)
    if room <= 0:
        raise ContextTooLong(f"{provider}: the prompt is {len(prompt_ids)} tokens; the context holds {context_length}")
    return min(max_tokens, room)
