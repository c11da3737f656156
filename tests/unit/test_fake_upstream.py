"""The fake upstream is checked against the real interface: the official openai client parses it."""

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
