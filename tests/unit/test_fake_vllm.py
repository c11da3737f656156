"""``tests/fakes/fake_vllm.py`` is checked against vLLM 0.33's own source.

vLLM cannot be installed here (its wheel is CUDA-only), so its source is read, not imported: when the
wheel is on disk (``scripts/setup-test-deps.sh`` puts it in ``~/.cache/tiered-router/wheels``; or
``VLLM_WHEEL`` names the file) the signatures are parsed from it with ``ast``; otherwise the test compares against
``RECORDED_0_33``, which was parsed from that wheel the same way, and a second test (skipped without the
wheel) keeps the record honest.
"""

import ast
import glob
import inspect
import os
import zipfile
from dataclasses import fields
from typing import Any

import pytest

from tests.fakes import fake_vllm

Signature = list[tuple[str, str, Any]]  # (name, "positional" | "keyword", literal default | marker)
REQUIRED, EXPRESSION = "<required>", "<expr>"

METHODS = ("generate", "abort", "from_engine_args", "get_tokenizer", "check_health", "shutdown")
EXCEPTIONS = {"vllm/exceptions.py": ("VLLMError", "VLLMClientError", "VLLMServerError", "VLLMValidationError",
                                     "GenerationError", "GracefulHTTPError", "QueueOverflowError"),
              "vllm/v1/engine/exceptions.py": ("EngineGenerateError", "EngineDeadError")}


WHEEL_DIRS = (os.environ.get("TIERED_ROUTER_WHEELS") or os.path.expanduser("~/.cache/tiered-router/wheels"),
              "/tmp/vllm-wheel")  # the first is where scripts/setup-test-deps.sh puts it


def _wheel() -> str | None:
    found = os.environ.get("VLLM_WHEEL") or next(
        (w for d in WHEEL_DIRS for w in sorted(glob.glob(os.path.join(d, "vllm-0.33.0-*.whl")))), None)
    return found if found and os.path.isfile(found) else None


def _signature(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Signature:
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)

    def shown(default: ast.expr | None) -> Any:
        if default is None:
            return REQUIRED
        return default.value if isinstance(default, ast.Constant) else EXPRESSION

    return ([(a.arg, "positional", shown(d)) for a, d in zip(positional, defaults)]
            + [(a.arg, "keyword", shown(d)) for a, d in zip(args.kwonlyargs, args.kw_defaults)])


def _fields(cls: ast.ClassDef) -> dict[str, Any]:
    """Annotated class-level fields (dataclass / msgspec style) and their literal defaults."""
    found = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            value = node.value
            found[node.target.id] = (REQUIRED if value is None else
                                     value.value if isinstance(value, ast.Constant) else EXPRESSION)
    return found


def parse_wheel(path: str) -> dict[str, Any]:
    archive = zipfile.ZipFile(path)

    def classes(member: str) -> dict[str, ast.ClassDef]:
        tree = ast.parse(archive.read(member).decode())
        return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}

    llm = classes("vllm/v1/engine/async_llm.py")["AsyncLLM"]
    methods = {n.name: _signature(n) for n in llm.body
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in METHODS}
    sampling = classes("vllm/sampling_params.py")
    outputs = classes("vllm/outputs.py")
    args = classes("vllm/engine/arg_utils.py")
    init = next(n for n in outputs["RequestOutput"].body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    bases = {}
    for member, names in EXCEPTIONS.items():
        found = classes(member)
        for name in names:
            bases[name] = [ast.unparse(b) for b in found[name].bases]
    return {
        "AsyncLLM": methods,
        "AsyncEngineArgs": {**_fields(args["EngineArgs"]), **_fields(args["AsyncEngineArgs"])},
        "SamplingParams": _fields(sampling["SamplingParams"]),
        "StructuredOutputsParams": _fields(sampling["StructuredOutputsParams"]),
        "RequestOutputKind": {t.id: n.value.value for n in sampling["RequestOutputKind"].body
                              if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)},
        "RequestOutput.__init__": _signature(init),
        "CompletionOutput": list(_fields(outputs["CompletionOutput"])),
        "exception_bases": bases,
    }


# Parsed from vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl with parse_wheel(), trimmed to what the fake
# mirrors (a field the fake lacks is not listed).
RECORDED_0_33: dict[str, Any] = {
    "AsyncLLM": {
        "generate": [("self", "positional", REQUIRED), ("prompt", "positional", REQUIRED),
                     ("sampling_params", "positional", REQUIRED), ("request_id", "positional", REQUIRED),
                     ("prompt_text", "keyword", None), ("lora_request", "keyword", None),
                     ("tokenization_kwargs", "keyword", None), ("trace_headers", "keyword", None),
                     ("priority", "keyword", 0), ("data_parallel_rank", "keyword", None),
                     ("session_id", "keyword", None), ("kv_hints", "keyword", None),
                     ("reasoning_ended", "keyword", None), ("reasoning_parser_kwargs", "keyword", None)],
        "abort": [("self", "positional", REQUIRED), ("request_id", "positional", REQUIRED),
                  ("internal", "positional", False)],
        "from_engine_args": [("cls", "positional", REQUIRED), ("engine_args", "positional", REQUIRED),
                             ("start_engine_loop", "positional", True), ("usage_context", "positional", EXPRESSION),
                             ("stat_loggers", "positional", None)],
        "get_tokenizer": [("self", "positional", REQUIRED)],
        "check_health": [("self", "positional", REQUIRED)],
        "shutdown": [("self", "positional", REQUIRED), ("timeout", "positional", None)],
    },
    "AsyncEngineArgs": {"model": EXPRESSION, "max_model_len": EXPRESSION, "tensor_parallel_size": EXPRESSION,
                        "enable_prefix_caching": None, "gpu_memory_utilization": EXPRESSION, "max_num_seqs": None,
                        "quantization": EXPRESSION, "enable_log_requests": False},
    "SamplingParams": {"n": 1, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "seed": None, "stop": None,
                       "max_tokens": 16, "skip_special_tokens": True, "output_kind": EXPRESSION,
                       "structured_outputs": None},
    "StructuredOutputsParams": {"json": None, "regex": None, "choice": None, "grammar": None, "json_object": None,
                                "disable_any_whitespace": False, "disable_additional_properties": False,
                                "whitespace_pattern": None, "structural_tag": None},
    "RequestOutputKind": {"CUMULATIVE": 0, "DELTA": 1, "FINAL_ONLY": 2},
    "RequestOutput.__init__": [
        ("self", "positional", REQUIRED), ("request_id", "positional", REQUIRED), ("prompt", "positional", REQUIRED),
        ("prompt_token_ids", "positional", REQUIRED), ("prompt_logprobs", "positional", REQUIRED),
        ("outputs", "positional", REQUIRED), ("finished", "positional", REQUIRED), ("metrics", "positional", None),
        ("lora_request", "positional", None), ("encoder_prompt", "positional", None),
        ("encoder_prompt_token_ids", "positional", None), ("num_cached_tokens", "positional", None),
        ("num_cache_creation_tokens", "positional", None)],
    "CompletionOutput": ["index", "text", "token_ids", "cumulative_logprob", "logprobs", "routed_experts",
                         "finish_reason", "stop_reason"],
    "exception_bases": {"VLLMError": ["Exception"], "VLLMClientError": ["VLLMError"],
                        "VLLMServerError": ["VLLMError"], "VLLMValidationError": ["VLLMClientError"],
                        "GenerationError": ["VLLMServerError"], "GracefulHTTPError": ["VLLMError"],
                        "QueueOverflowError": ["GracefulHTTPError"], "EngineGenerateError": ["VLLMServerError"],
                        "EngineDeadError": ["VLLMServerError"]},
}


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    wheel = _wheel()
    return parse_wheel(wheel) if wheel else RECORDED_0_33


def _fake_signature(function: Any) -> Signature:
    kinds = {inspect.Parameter.POSITIONAL_ONLY: "positional", inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
             inspect.Parameter.KEYWORD_ONLY: "keyword"}
    params = inspect.signature(function).parameters.values()
    return [(p.name, kinds[p.kind], REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for p in params if p.kind in kinds]


def _same(fake: Signature, real: Signature) -> None:
    assert [(n, k) for n, k, _ in fake] == [(n, k) for n, k, _ in real]
    for (name, _, mine), (_, _, theirs) in zip(fake, real):
        if theirs != EXPRESSION:
            assert mine == theirs, f"default of {name}"


def test_async_llm_methods_take_what_vllm_takes(reference):
    for name in METHODS:
        method = getattr(fake_vllm.FakeAsyncLLM, name)
        # The plain function, so the signature starts with self (or cls) as the parsed source's does.
        fake = _fake_signature(getattr(method, "__func__", method))
        _same(fake, reference["AsyncLLM"][name])
    assert inspect.isasyncgenfunction(fake_vllm.FakeAsyncLLM.generate)
    assert inspect.iscoroutinefunction(fake_vllm.FakeAsyncLLM.abort)


@pytest.mark.parametrize("name", ["AsyncEngineArgs", "SamplingParams", "StructuredOutputsParams"])
def test_parameter_classes_have_vllms_fields_and_defaults(reference, name):
    real = reference[name]
    for field in fields(getattr(fake_vllm, name)):
        assert field.name in real, f"vLLM's {name} has no field {field.name}"
        if real[field.name] not in (EXPRESSION, REQUIRED):
            assert field.default == real[field.name], f"{name}.{field.name}"


def test_outputs_are_shaped_like_vllms(reference):
    _same([("self", "positional", REQUIRED)] + _fake_signature(fake_vllm.RequestOutput.__init__)[1:],
          reference["RequestOutput.__init__"][:13])
    assert [f.name for f in fields(fake_vllm.CompletionOutput)] == reference["CompletionOutput"][:8]
    assert {k.name: k.value for k in fake_vllm.RequestOutputKind} == reference["RequestOutputKind"]


def test_exceptions_have_vllms_class_tree(reference):
    for name, bases in reference["exception_bases"].items():
        assert [b.__name__ for b in getattr(fake_vllm, name).__bases__] == bases


@pytest.mark.skipif(_wheel() is None, reason="vLLM 0.33.0 wheel not downloaded (see module docstring)")
def test_the_recorded_signatures_match_the_wheel():
    parsed = parse_wheel(_wheel())
    for key, recorded in RECORDED_0_33.items():
        if isinstance(recorded, dict) and key != "AsyncLLM":
            assert {k: parsed[key][k] for k in recorded} == recorded, key
        elif key == "AsyncLLM":
            assert {k: parsed[key][k] for k in recorded} == recorded
        else:
            assert parsed[key][: len(recorded)] == recorded, key
