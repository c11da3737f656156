"""Router config documents for tests, built the way an operator would write them."""

import tempfile
import uuid
from pathlib import Path
from typing import Any

# One folder per test process; each config gets its own SQLite file in it, so no test sees another's
# workspaces, budgets or caps, and nothing lands in the user's ~/.tiered-router.
_DB_DIR = Path(tempfile.mkdtemp(prefix="tiered-router-tests-"))


def fresh_database_url() -> str:
    return f"sqlite:///{_DB_DIR / (uuid.uuid4().hex + '.db')}"


def router_config(
    micro_url: str | None = None,
    light_url: str | None = None,
    providers: list[dict[str, Any]] | None = None,
    *,
    micro_timeout_s: float = 5.0,
    commands: list[dict[str, Any]] | None = None,
    auth: str = "none",
    database_url: str | None = None,
) -> dict[str, Any]:
    def tier(url: str | None, context: int, max_tokens: int, temperature: float, timeout: float, conc: int):
        entry: dict[str, Any] = {"model": "deepseek-r1:1.5b", "engine": "openai_compatible",
                                 "context_length": context, "max_tokens": max_tokens, "temperature": temperature,
                                 "timeout_s": timeout, "concurrency": conc}
        if url:
            entry["base_url"] = url
        return entry

    return {
        "tiers": {
            "micro": tier(micro_url, 2048, 128, 0.0, micro_timeout_s, 8),
            "light": tier(light_url, 4096, 1024, 0.2, 30.0, 4),
            "frontier": {"context_length": 131072, "max_tokens": 4096, "temperature": 0.7, "timeout_s": 60.0,
                         "concurrency": 16},
        },
        "frontier": {"strategy": "prefer_local", "daily_cap": 100, "providers": providers or []},
        "access": {"auth": auth, "database_url": database_url or fresh_database_url()},
        "commands": commands if commands is not None else [
            {"name": "cert", "pattern": r"^/cert\s+(?P<cert_id>[A-Za-z0-9-]+)$", "description": "a certification",
             "action": {"type": "respond", "template": "Certification {cert_id}"}},
        ],
    }


def provider(name: str, url: str, *, tags: list[str] | None = None, quality: float = 0.9,
             cost_in: float = 0.001, cost_out: float = 0.002) -> dict[str, Any]:
    return {"name": name, "engine": "openai_compatible", "model": f"{name}-model", "base_url": url,
            "cost_per_1k_input": cost_in, "cost_per_1k_output": cost_out, "quality": quality,
            "max_context": 32768, "tags": tags or []}


DEAD_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, connections are refused
