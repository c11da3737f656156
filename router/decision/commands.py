"""Tier 0: deterministic commands, answered without any model call.

A command is matched two ways against the last user message:
- text: the whole message matches a command's regex (``/cert az-104`` with
  ``^/cert\\s+(?P<cert_id>\\S+)$`` gives ``{"cert_id": "az-104"}``);
- JSON: the message is a JSON object with a ``"command"`` key; the other keys (or an ``"args"``
  object) are the arguments. Naming a command that does not exist is an error, since the caller
  clearly meant a command.

Actions: ``respond`` renders a template; ``call`` and ``http`` are run by executors the owner
passes in (the ingress passes a Ray Serve handle caller), which keeps this module free of Ray.
"""

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from router.core.config import (
    BUILTIN_COMMANDS,
    CallAction,
    CommandConfig,
    HttpAction,
    RespondAction,
    RouterConfig,
)
from router.core.errors import InvalidRequest, NotFound, UpstreamError


@dataclass(frozen=True)
class CommandMatch:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class CommandResult:
    name: str
    text: str
    data: Any = None


@dataclass(frozen=True)
class _Registered:
    name: str
    regex: re.Pattern[str]
    description: str
    config: CommandConfig | None  # None for built-ins


_BUILTIN_HELP = {
    "help": (r"^/help$", "list the commands"),
    "status": (r"^/status$", "tiers and providers, with availability"),
    "tiers": (r"^/tiers$", "the tiers and their limits"),
}


class CommandRegistry:
    """Compiled command patterns, built-ins first."""

    def __init__(self, commands: list[CommandConfig]) -> None:
        self._commands: list[_Registered] = [
            _Registered(name, re.compile(pattern, re.IGNORECASE), description, None)
            for name, (pattern, description) in _BUILTIN_HELP.items()
        ]
        self._commands += [
            _Registered(c.name, re.compile(c.pattern), c.description, c) for c in commands
        ]
        self._by_name = {c.name: c for c in self._commands}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._commands]

    def describe(self) -> list[tuple[str, str]]:
        return [(c.name, c.description) for c in self._commands]

    def argument_names(self, name: str) -> list[str]:
        return list(self._by_name[name].regex.groupindex)

    def config_of(self, name: str) -> CommandConfig | None:
        return self._by_name[name].config

    def match(self, text: str) -> CommandMatch | None:
        stripped = text.strip()
        if stripped.startswith("{"):
            payload = _json_object(stripped)
            if payload is not None and "command" in payload:
                return self._match_payload(payload)
        # Cheap pre-check: most chat messages are not commands and skip the regex loop.
        if not stripped or (stripped[0] != "/" and not self._has_free_form_patterns()):
            return None
        for command in self._commands:
            found = command.regex.fullmatch(stripped)
            if found is not None:
                args = {k: v for k, v in found.groupdict().items() if v is not None}
                return CommandMatch(command.name, args)
        return None

    def _has_free_form_patterns(self) -> bool:
        return any(c.config is not None and not c.regex.pattern.lstrip("^").startswith("/") for c in self._commands)

    def _match_payload(self, payload: dict[str, Any]) -> CommandMatch:
        name = payload["command"]
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("the JSON command's \"command\" must be a non-empty string", param="command")
        name = name.strip().lstrip("/")
        if name not in self._by_name:
            raise NotFound(
                f"unknown command {name!r}; available commands: {', '.join(self.names)}", code="unknown_command"
            )
        if "args" in payload:
            args = payload["args"]
            if not isinstance(args, dict):
                raise InvalidRequest("the JSON command's \"args\" must be an object", param="args")
        else:
            args = {k: v for k, v in payload.items() if k != "command"}
        return CommandMatch(name, dict(args))


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


StatusSource = Callable[[], Awaitable[dict[str, Any]]]
CallExecutor = Callable[[CallAction, dict[str, Any]], Awaitable[Any]]
HttpExecutor = Callable[[HttpAction, str, dict[str, Any]], Awaitable[Any]]


@dataclass
class CommandExecutor:
    """Runs matched commands. ``status`` feeds /status; ``call``/``http`` run those actions."""

    config: RouterConfig
    status: StatusSource
    call: CallExecutor | None = None
    http: HttpExecutor | None = None
    registry: CommandRegistry = field(init=False)

    def __post_init__(self) -> None:
        self.registry = CommandRegistry(self.config.commands)

    def match(self, text: str) -> CommandMatch | None:
        return self.registry.match(text)

    async def run(self, match: CommandMatch) -> CommandResult:
        if match.name in BUILTIN_COMMANDS:
            return await self._builtin(match.name)
        command = self.registry.config_of(match.name)
        assert command is not None
        action = command.action
        if isinstance(action, RespondAction):
            return CommandResult(match.name, render_template(match.name, action.template, match.args))
        if isinstance(action, CallAction):
            if self.call is None:
                raise UpstreamError(f"command {match.name!r}: no executor for 'call' actions in this process")
            data = await self.call(action, match.args)
            return CommandResult(match.name, _as_text(data), data)
        if self.http is None:
            raise UpstreamError(f"command {match.name!r}: no executor for 'http' actions in this process")
        data = await self.http(action, match.name, match.args)
        return CommandResult(match.name, _as_text(data), data)

    async def _builtin(self, name: str) -> CommandResult:
        if name == "help":
            lines = ["Commands:"] + [f"  /{n}" + (f"  {d}" if d else "") for n, d in self.registry.describe()]
            return CommandResult(name, "\n".join(lines), {"commands": self.registry.names})
        if name == "tiers":
            data = tiers_summary(self.config)
            lines = [
                f"Tier {t['tier']} ({t['name']}): {t['model']}, context {t['context_length']}, "
                f"max_tokens {t['max_tokens']}, temperature {t['temperature']}, timeout {t['timeout_s']}s, "
                f"concurrency {t['concurrency']}"
                for t in data
            ]
            return CommandResult(name, "\n".join(["Tier 0: commands, no model"] + lines), {"tiers": data})
        status = await self.status()
        return CommandResult(name, format_status(status), status)


def render_template(name: str, template: str, args: Mapping[str, Any]) -> str:
    try:
        return template.format_map({k: v for k, v in args.items()})
    except KeyError as exc:
        raise InvalidRequest(f"command {name!r} needs the argument {exc.args[0]!r}", param=str(exc.args[0])) from None
    except (ValueError, IndexError) as exc:
        raise InvalidRequest(f"command {name!r}: its template could not be rendered: {exc}") from None


def tiers_summary(config: RouterConfig) -> list[dict[str, Any]]:
    out = []
    for number, name in ((1, "micro"), (2, "light"), (3, "frontier")):
        tier = getattr(config.tiers, name)
        model = getattr(tier, "model", None) or ", ".join(p.name for p in config.frontier.providers) or "(no providers)"
        out.append(
            {
                "tier": number,
                "name": name,
                "model": model,
                "context_length": tier.context_length,
                "max_tokens": tier.max_tokens,
                "temperature": tier.temperature,
                "timeout_s": tier.timeout_s,
                "concurrency": tier.concurrency,
            }
        )
    return out


def format_status(status: dict[str, Any]) -> str:
    lines = []
    for tier in status.get("tiers", []):
        state = "available" if tier.get("available") else f"unavailable: {tier.get('reason')}"
        lines.append(f"Tier {tier['tier']} ({tier['name']}): {state}")
        for provider in tier.get("providers", []):
            pstate = "available" if provider.get("available") else f"unavailable: {provider.get('reason')}"
            lines.append(f"  provider {provider['name']}: {pstate}")
    return "\n".join(lines)


def _as_text(data: Any) -> str:
    if isinstance(data, str):
        return data
    try:
        return json.dumps(data, default=str)
    except (TypeError, ValueError):
        return str(data)
