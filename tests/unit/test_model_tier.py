"""The tier and frontier deployment classes (plain classes, no Ray) with real engines: the tiny checkpoint on
transformers, and an Anthropic provider against the loopback fake."""

import asyncio

import pytest

from deployments.frontier import FrontierPoolServer
from deployments.model_tier import ModelTierServer
from models.tiny import TINY_MODEL_NAME
from models.transformers_engine import TransformersEngine
from router.core.errors import TierUnavailable
from router.core.generation import GenerationRequest, Message
from tests.configs import router_config

REQUEST = GenerationRequest(request_id="m1", messages=[Message(role="user", content="What is Ray Serve?")])


def local_tier(path: str) -> dict:
    return {"engine": "transformers", "model": TINY_MODEL_NAME, "model_path": path, "device": "cpu"}


def config_with(micro: dict | None = None, providers: list | None = None) -> dict:
    config = router_config(providers=providers)
    if micro:
        config["tiers"]["micro"].update(micro)
    return config


LOCAL_TINY = {"name": "local-tiny", "engine": "transformers", "model": TINY_MODEL_NAME, "device": "cpu",
              "cost_per_1k_input": 0.0, "cost_per_1k_output": 0.0, "quality": 0.1, "max_context": 4096,
              "tags": ["local"]}


@pytest.fixture
def held_load(monkeypatch) -> asyncio.Event:
    """The transformers load waits for this event, so a test decides when a model finishes loading."""
    release = asyncio.Event()
    real_start = TransformersEngine.start

    async def start_when_released(self):
        await release.wait()
        await real_start(self)

    monkeypatch.setattr(TransformersEngine, "start", start_when_released)
    return release


async def test_the_replica_starts_at_once_reports_loading_then_serves(tiny_checkpoint, held_load):
    server = ModelTierServer("micro", config_with(local_tier(tiny_checkpoint)))
    loading = await server.status()
    assert not loading.available and "still loading" in loading.reason
    with pytest.raises(TierUnavailable, match="still loading"):
        await server.generate(REQUEST)
    held_load.set()
    ready = await server.loaded()
    assert ready.available and ready.model == TINY_MODEL_NAME
    answer = await server.generate(REQUEST.model_copy(update={"max_tokens": 6}))
    assert answer.model == TINY_MODEL_NAME and answer.usage.completion_tokens == 6
    deltas = [d async for d in server.generate_stream(REQUEST.model_copy(update={"max_tokens": 4}))]
    assert deltas[-1].usage.completion_tokens == 4
    status = await server.status()
    assert status.detail["state"] == "ready" and status.detail["tokens"]["completion_tokens"] == 10


async def test_weights_that_cannot_be_loaded_leave_the_replica_up_and_say_why(tmp_path):
    missing = str(tmp_path / "no-such-checkpoint")
    server = ModelTierServer("micro", config_with(local_tier(missing)))
    status = await server.loaded()
    assert not status.available
    assert "cannot load" in status.reason and missing in status.reason and status.detail["state"] == "failed"
    with pytest.raises(TierUnavailable, match="cannot load"):
        await server.generate(REQUEST)


async def test_reconfiguring_to_a_good_path_recovers(tiny_checkpoint, tmp_path):
    server = ModelTierServer("micro", config_with(local_tier(str(tmp_path / "absent"))))
    assert not (await server.loaded()).available
    await server.reconfigure(config_with(local_tier(tiny_checkpoint)))
    assert (await server.loaded()).available


async def test_the_frontier_pool_uses_the_anthropic_sdk_engine(anthropic_upstream, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    providers = [{"name": "claude", "engine": "anthropic", "model": "claude-fake", "base_url": anthropic_upstream.base_url,
                  "cost_per_1k_input": 0.003, "cost_per_1k_output": 0.015, "quality": 0.95, "max_context": 200000,
                  "max_retries": 0, "tags": ["cloud"]}]
    pool = FrontierPoolServer(config_with(providers=providers))
    answer = await pool.generate(REQUEST)
    assert answer.text == "[anthropic] echo: What is Ray Serve?" and answer.provider == "claude"
    status = await pool.status()
    assert status.available and status.provider == "claude"


async def test_a_frontier_provider_on_a_local_model_loads_in_the_background(tiny_checkpoint, held_load):
    pool = FrontierPoolServer(config_with(providers=[{**LOCAL_TINY, "model_path": tiny_checkpoint}]))
    with pytest.raises(TierUnavailable, match="still loading"):
        await pool.generate(REQUEST)
    assert (await pool.status()).detail["providers"][0]["state"] == "loading"  # what `serve` waits on
    held_load.set()
    await pool.pool.providers[0].slot.started()
    status = await pool.status()
    assert status.available  # the failure seen while loading is not held against it
    assert status.detail["providers"][0]["state"] == "ready"
    answer = await pool.generate(REQUEST.model_copy(update={"max_tokens": 3}))
    assert answer.provider == "local-tiny" and answer.usage.completion_tokens == 3


async def test_a_provider_still_loading_is_not_admitted_so_nothing_is_reserved_or_marked_down(tiny_checkpoint,
                                                                                             held_load):
    pool = FrontierPoolServer(config_with(providers=[{**LOCAL_TINY, "model_path": tiny_checkpoint}]))
    slot = pool.pool.providers[0].slot
    admitted = []
    admit = pool.pool.ledger.admit

    async def recording_admit(*args, **kwargs):
        admitted.append(args)
        return await admit(*args, **kwargs)

    pool.pool.ledger.admit = recording_admit
    with pytest.raises(TierUnavailable, match="still loading"):
        await pool.generate(REQUEST)
    assert admitted == []  # no budget reservation and no daily-cap slot taken for a refusal made in advance
    held_load.set()
    await slot.started()
    status = await pool.status()
    assert status.available and status.provider == "local-tiny"
    await pool.generate(REQUEST.model_copy(update={"max_tokens": 2}))
    assert len(admitted) == 1
