"""Property-based HTTP fuzzing with schemathesis against the router's own OpenAPI document.

Cases are generated from /openapi.json (bodies, query and path parameters, valid and not) and sent over
real HTTP to a real Serve app with workspaces on. Whatever is sent, the answer is never a 5xx (the
upstreams are up), and every error body is in OpenAI's shape.
"""

import httpx
import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.configs import DEAD_URL, fresh_database_url, provider, router_config
from tests.fakes.openai_upstream import FakeUpstream

pytestmark = pytest.mark.ray
APP = "fuzz"
ADMIN_KEY = "admin-key-for-the-fuzzer"
EXAMPLES_PER_OPERATION = 60
MIN_CASES = 500
FUZZED = r"^/(v1/(chat/completions|route|feedback|routing/stats|models)|admin/)"

@pytest.fixture(scope="module")
def fuzz_target(ray_serve):
    from ray import serve

    from deployments.app import build_app

    light, cloud = FakeUpstream(name="light").start(), FakeUpstream(name="cloud").start()
    entry = provider("cloud", cloud.base_url, tags=["cloud"], cost_in=1.0, cost_out=1.0)
    entry["api_key_env"] = "CLOUD_KEY"
    config = router_config(micro_url=DEAD_URL, light_url=light.base_url, providers=[entry], auth="workspace_key",
                           database_url=fresh_database_url())
    env = {"TIERED_ROUTER_ADMIN_KEY": ADMIN_KEY, "TIERED_ROUTER_MASTER_KEY": Fernet.generate_key().decode(),
           "CLOUD_KEY": "sk-fuzz-server-key"}
    actor = {"ray_actor_options": {"num_cpus": 0, "runtime_env": {"env_vars": env}}}
    serve.run(build_app({"router_config": config, "deployment_options": {"RouterIngress": actor, "frontier": actor},
                         "replica_cpus": 0}), name=APP, route_prefix=f"/{APP}")
    base = f"{ray_serve}/{APP}"
    made = httpx.post(f"{base}/admin/workspaces", json={"name": "fuzzed"},
                      headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert made.status_code == 201, made.text
    yield base, made.json()["api_key"]
    serve.delete(APP)
    light.stop()
    cloud.stop()


@pytest.fixture(scope="module")
def router_schema(fuzz_target):
    base, _ = fuzz_target
    return schemathesis.openapi.from_url(f"{base}/openapi.json").include(path_regex=FUZZED)


def test_the_document_declares_bodies_and_openai_shaped_errors(fuzz_target):
    base, _ = fuzz_target
    document = httpx.get(f"{base}/openapi.json").json()
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/ChatCompletionRequest"}
    assert set(chat["responses"]) >= {"200", "400", "401", "402", "403", "404", "413", "422", "429", "503"}
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    assert "messages" in document["components"]["schemas"]["ChatCompletionRequest"]["properties"]


def check(case, base: str, workspace_key: str, sent: list[tuple[str, int]]) -> None:
    key = ADMIN_KEY if case.path.startswith("/admin") else workspace_key
    response = case.call(base_url=base, headers={"authorization": f"Bearer {key}"}, timeout=60)
    sent.append((f"{case.method} {case.path}", response.status_code))
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"], response.text
        assert isinstance(error["type"], str) and "code" in error, response.text
        assert "Traceback" not in response.text


def test_no_generated_request_gets_a_5xx_and_every_error_is_openai_shaped(router_schema, fuzz_target):
    base, workspace_key = fuzz_target
    sent: list[tuple[str, int]] = []
    for result in router_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_OPERATION // 2, deadline=None, database=None, phases=[Phase.generate],
                      derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def fuzz(case):
                check(case, base, workspace_key, sent)

            try:
                fuzz()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # nothing to get wrong: an operation without inputs
    operations = {name for name, _ in sent}
    assert len(sent) >= MIN_CASES, f"only {len(sent)} generated cases"
    assert {"POST /v1/chat/completions", "POST /v1/route", "POST /v1/feedback", "POST /admin/workspaces",
            "PUT /admin/workspaces/{ref}/keys/{provider}"} <= operations
    refused = sum(1 for _, status in sent if status >= 400)
    print(f"\nfuzzing: {len(sent)} cases over {len(operations)} operations, {refused} answered 4xx, none 5xx")
