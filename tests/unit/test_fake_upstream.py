"""The fake upstream is checked against the real interface: the official openai client parses it."""

import anthropic
import openai
import pytest


def test_the_official_client_parses_the_fakes_completions_and_streams(upstream):
    client = openai.OpenAI(base_url=upstream.base_url, api_key="unused")
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "[upstream] echo: hi"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "[upstream] echo: hi"
    assert chunks[-1].usage is not None
    client.close()


def test_the_fakes_error_statuses_reach_the_client_as_openai_errors(upstream):
    upstream.mode = "status:429"
    client = openai.OpenAI(base_url=upstream.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    client.close()


def test_the_official_anthropic_client_parses_the_anthropic_fakes_messages_and_events(anthropic_upstream):
    client = anthropic.Anthropic(base_url=anthropic_upstream.base_url, api_key="unused", max_retries=0)
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    message = client.messages.create(model="claude-fake", max_tokens=64, system=system,
                                     messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "[anthropic] echo: hi"
    assert message.usage.cache_creation_input_tokens == 3 and message.usage.input_tokens == 1
    anthropic_upstream.mode = "think"
    with client.messages.stream(model="claude-fake", max_tokens=64, system=system,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        texts = [event.text for event in stream if event.type == "text"]
        final = stream.get_final_message()
    assert "".join(texts) == "[anthropic] echo: hi"
    assert final.content[0].type == "thinking" and final.usage.cache_read_input_tokens == 3
    assert final.usage.output_tokens == 3 and final.stop_reason == "end_turn"
    assert client.models.list().data[0].id == "claude-fake"
    client.close()


@pytest.mark.parametrize(("mode", "error"), [("status:429", "RateLimitError"), ("status:529", "OverloadedError"),
                                              ("stream_error", "APIStatusError")])
def test_the_anthropic_fakes_failures_reach_the_client_as_anthropic_errors(anthropic_upstream, mode, error):
    anthropic_upstream.mode = mode
    client = anthropic.Anthropic(base_url=anthropic_upstream.base_url, api_key="unused", max_retries=0)
    with pytest.raises(getattr(anthropic, error)) as caught:
        with client.messages.stream(model="claude-fake", max_tokens=64,
                                    messages=[{"role": "user", "content": "hello there friend"}]) as stream:
            for _ in stream:
                pass
    if mode == "status:429":
        assert caught.value.response.headers["retry-after"] == "2"
    if mode == "stream_error":
        assert caught.value.type == "overloaded_error"
    client.close()


def test_the_anthropic_fake_refuses_what_the_api_refuses(anthropic_upstream):
    client = anthropic.Anthropic(base_url=anthropic_upstream.base_url, api_key="unused", max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="alternate"):
        client.messages.create(model="claude-fake", max_tokens=8, messages=[
            {"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    client.close()
