"""Shared fixtures. One Ray instance (and one Serve instance) for the whole session."""

import os
from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.openai_upstream import FakeUpstream, free_port


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(name="upstream").start()
    yield server
    server.stop()


@pytest.fixture
def second_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(name="second").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_serve() -> Iterator[str]:
    """Real Ray + Serve on loopback, started once; yields the HTTP base URL."""
    os.environ.setdefault("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "0")
    import ray
    from ray import serve

    ray.init(num_cpus=4, include_dashboard=False, namespace="serve", log_to_driver=False,
             configure_logging=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny random-weight Qwen2 checkpoint (models/tiny.py), built once per session."""
    from models.tiny import build_tiny_checkpoint

    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-checkpoint")))


@pytest.fixture
def anthropic_upstream() -> Iterator[AnthropicUpstream]:
    server = AnthropicUpstream(name="anthropic").start()
    yield server
    server.stop()
