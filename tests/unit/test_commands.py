import httpx
import pytest

from deployments.command_http import post_command
from router.core.config import HttpAction, parse_config
from router.core.errors import InvalidRequest, NotFound, UpstreamError
from router.decision.commands import CommandExecutor, CommandRegistry
from tests.configs import router_config


def executor(**kwargs) -> CommandExecutor:
    async def status():
        return {"tiers": [{"tier": 1, "name": "micro", "available": False, "reason": "no endpoint configured"}]}

    return CommandExecutor(parse_config(router_config(**kwargs)), status=status)


def test_named_groups_become_arguments():
    registry = CommandRegistry(parse_config(router_config()).commands)
    match = registry.match("/cert az-104")
    assert match is not None
    assert (match.name, match.args) == ("cert", {"cert_id": "az-104"})


def test_ordinary_chat_text_is_not_a_command():
    registry = CommandRegistry(parse_config(router_config()).commands)
    assert registry.match("What is the capital of France?") is None
    assert registry.match("/certainly not a command with spaces") is None


def test_a_json_payload_with_a_command_key_matches_with_its_other_keys_as_arguments():
    registry = CommandRegistry(parse_config(router_config()).commands)
    match = registry.match('{"command": "cert", "cert_id": "dp-900"}')
    assert (match.name, match.args) == ("cert", {"cert_id": "dp-900"})
    nested = registry.match('{"command": "/cert", "args": {"cert_id": "ai-102"}}')
    assert (nested.name, nested.args) == ("cert", {"cert_id": "ai-102"})


def test_a_json_payload_naming_an_unknown_command_is_a_404_listing_the_commands():
    registry = CommandRegistry(parse_config(router_config()).commands)
    with pytest.raises(NotFound) as caught:
        registry.match('{"command": "launch-rockets"}')
    assert caught.value.code == "unknown_command"
    assert "help, status, tiers, cert" in caught.value.message


async def test_respond_renders_the_template_from_the_arguments():
    run = executor()
    result = await run.run(run.match("/cert az-104"))
    assert result.text == "Certification az-104"


async def test_a_template_missing_an_argument_names_it():
    commands = [{"name": "greet", "pattern": r"^/greet$", "action": {"type": "respond", "template": "hi {who}"}}]
    run = executor(commands=commands)
    with pytest.raises(InvalidRequest, match="needs the argument 'who'"):
        await run.run(run.match("/greet"))


async def test_help_lists_builtins_and_configured_commands():
    run = executor()
    result = await run.run(run.match("/help"))
    for name in ("/help", "/status", "/tiers", "/cert"):
        assert name in result.text


async def test_tiers_describes_each_tier_with_its_limits():
    run = executor()
    result = await run.run(run.match("/tiers"))
    assert "Tier 1 (micro): deepseek-r1:1.5b, context 2048, max_tokens 128" in result.text
    assert "Tier 2 (light): deepseek-r1:1.5b, context 4096, max_tokens 1024" in result.text


async def test_status_reports_availability_and_the_reason():
    run = executor()
    result = await run.run(run.match("/status"))
    assert result.text == "Tier 1 (micro): unavailable: no endpoint configured"


async def test_call_without_an_executor_is_an_upstream_error_not_a_silent_answer():
    commands = [{"name": "job", "pattern": r"^/job (?P<id>\d+)$", "action": {"type": "call", "app": "jobs"}}]
    run = executor(commands=commands)
    with pytest.raises(UpstreamError, match="no executor for 'call'"):
        await run.run(run.match("/job 7"))


async def test_the_http_action_posts_the_command_and_returns_the_endpoint_json():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url, request.read()))
        return httpx.Response(200, json={"ticket": 42})

    action = HttpAction(type="http", url="http://hooks.internal/ticket")
    data = await post_command(action, "ticket", {"title": "x"}, transport=httpx.MockTransport(handler))
    assert data == {"ticket": 42}
    assert seen[0][1] == b'{"command":"ticket","args":{"title":"x"}}'


async def test_the_http_action_reports_a_failing_endpoint():
    action = HttpAction(type="http", url="http://hooks.internal/ticket")
    transport = httpx.MockTransport(lambda request: httpx.Response(500, text="boom"))
    with pytest.raises(UpstreamError, match="answered 500"):
        await post_command(action, "ticket", {}, transport=transport)
