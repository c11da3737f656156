"""The ``http`` command action: POST the command and its arguments to a configured URL."""

from typing import Any

import httpx

from router.core.config import HttpAction
from router.core.errors import UpstreamError, UpstreamTimeout


async def post_command(action: HttpAction, name: str, args: dict[str, Any], *,
                       transport: httpx.AsyncBaseTransport | None = None) -> Any:
    """Return the endpoint's JSON (or its text when it is not JSON)."""
    try:
        async with httpx.AsyncClient(timeout=action.timeout_s, transport=transport) as client:
            response = await client.post(action.url, json={"command": name, "args": args}, headers=action.headers)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"command {name!r}: {action.url} did not answer within {action.timeout_s:g}s") from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(f"command {name!r}: cannot reach {action.url}: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        raise UpstreamError(f"command {name!r}: {action.url} answered {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        return response.text
