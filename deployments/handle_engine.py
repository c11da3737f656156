"""An ``Engine`` over a deployment handle: a frontier provider served inside the cluster (the 70B on the DGX Spark).

When the node carrying the provider's placement resource leaves the cluster, its replica dies and Serve
queues new calls until a replacement runs, which needs that node back: a call would wait for the whole
tier timeout. So every call and health check first asks Serve whether the deployment has a running
replica (cached for half a second), and fails fast with ``TierUnavailable`` when it has none, naming the
missing resource; the pool falls back to its next provider and takes this one back once a check passes.
"""

import asyncio
import time
from collections.abc import AsyncIterator

import ray
from ray.serve.handle import DeploymentHandle

from deployments.handles import call, stream
from models.engine import Engine, EngineHealth
from router.core.errors import TierUnavailable
from router.core.generation import Generation, GenerationRequest, StreamDelta

_RESOURCE_TTL_S = 0.5
_STATUS_TIMEOUT_S = 2.0


class HandleEngine(Engine):
    def __init__(self, handle: DeploymentHandle, *, provider: str, model: str, resource: str | None) -> None:
        self.provider = provider
        self.model = model
        self._handle = handle
        self._streaming = handle.options(stream=True)
        self._resource = resource
        self._resource_seen: tuple[float, bool] = (0.0, True)

    async def _placeable(self) -> None:
        checked_at, running = self._resource_seen
        if time.monotonic() - checked_at > _RESOURCE_TTL_S:
            running = await asyncio.to_thread(_running_replicas, self._handle.app_name, self._handle.deployment_name) > 0
            self._resource_seen = (time.monotonic(), running)
        if running:
            return
        where = ""
        if self._resource is not None and not await asyncio.to_thread(_alive_node_offers, self._resource):
            where = f": no node offering the {self._resource!r} resource is in the cluster (it left or has not joined)"
        raise TierUnavailable(f"{self.provider}: deployment {self._handle.deployment_name!r} has no running "
                              f"replica{where}", code="node_unavailable")

    def _with_limits(self, request: GenerationRequest, max_tokens: int, temperature: float) -> GenerationRequest:
        return request.model_copy(update={"max_tokens": max_tokens, "temperature": temperature})

    async def generate(self, request: GenerationRequest, *, max_tokens: int, temperature: float) -> Generation:
        await self._placeable()
        return await call(self._handle.generate.remote(self._with_limits(request, max_tokens, temperature)),
                          self.provider)

    async def stream(self, request: GenerationRequest, *, max_tokens: int,
                     temperature: float) -> AsyncIterator[StreamDelta]:
        await self._placeable()
        generator = self._streaming.generate_stream.remote(self._with_limits(request, max_tokens, temperature))
        async for delta in stream(generator, self.provider):
            yield delta

    async def health(self) -> EngineHealth:
        try:
            await self._placeable()
            status = await asyncio.wait_for(call(self._handle.status.remote(), self.provider), _STATUS_TIMEOUT_S)
        except TierUnavailable as exc:
            return EngineHealth(False, exc.message)
        except asyncio.TimeoutError:
            return EngineHealth(False, f"{self.provider}: its deployment did not answer within {_STATUS_TIMEOUT_S:g}s")
        except Exception as exc:  # noqa: BLE001 - any failure to answer is unavailability
            return EngineHealth(False, f"{self.provider}: {getattr(exc, 'message', type(exc).__name__)}")
        return EngineHealth(status.available, status.reason)


def _alive_node_offers(resource: str) -> bool:
    # ray.nodes() asks the GCS itself; a worker's cluster_resources() view can lag a node's death.
    return any(node.get("Alive") and node.get("Resources", {}).get(resource, 0) > 0 for node in ray.nodes())


def _running_replicas(app: str, deployment: str) -> int:
    from ray import serve

    application = serve.status().applications.get(app)
    state = application.deployments.get(deployment) if application is not None else None
    return state.replica_states.get("RUNNING", 0) if state is not None else 0
