"""Bad input gets a 4xx with a message, never a 500: schemathesis against the app's own
OpenAPI, signed in as admin, on a real hub; and the OpenAPI is complete (every operation has
a summary, a description, and an example for its main answer).

Logout is left out of the fuzzing (it would revoke the fuzzer's own token; `test_auth.py`
covers it); everything else, user administration included, is fuzzed. Examples per operation
are bounded so the whole run stays well under a minute here.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.security import Role
from tests.api_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    ApiServer,
    api_server_fixture,
    module_rtsp_fixture,
)

MAX_EXAMPLES = 30
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)  # valid input, and input that is not
# Not `negative_data_rejection`: FastAPI takes the last of repeated query values for a scalar
# parameter (`?group=a&group=b`), which that check calls accepting invalid data; it is a
# documented, harmless leniency, and the negative cases still must not cause a 5xx.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # no shrinking: bounded
    suppress_health_check=list(hypothesis.HealthCheck),
)


def test_bad_input_is_a_4xx_never_a_500(api_server: ApiServer) -> None:
    # One test driving every operation (schemathesis' pytest plugin and this pytest disagree);
    # every operation is fuzzed even after one fails, and all failures are reported. Each is
    # fuzzed with generated path parameters, then again with real ones (the camera, a ticket
    # with evidence, a sensor, a user), so the handlers behind the 404s are reached too.
    schema = schemathesis.openapi.from_url(f"{api_server.base_url}/openapi.json")
    real = _real_path_parameters(api_server)
    failures: list[str] = []
    fuzzed = 0
    # Logout would end the fuzzer's own session; the event stream never ends, so a fuzzed
    # request to it can only time out (tests/test_events.py covers it).
    unfuzzed = schema.exclude(path="/api/auth/logout").exclude(path="/api/events")
    for result in unfuzzed.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        pinned = {name: real[name] for name in names if name in real}
        for path_parameters in ({}, pinned) if pinned else ({},):
            failure = _fuzz(api_server, operation, path_parameters)
            if failure:
                failures.append(f"{operation.label} {path_parameters or ''}: {failure}")
        fuzzed += 1
    assert fuzzed >= 24  # every operation but logout
    assert not failures, "\n\n".join(failures)
    # The fuzzer got past the guards: some of its generated users were created, as admin.
    with api_server.client(Role.ADMIN) as client:
        made = client.get("/api/audit", params={"action": "user.create", "limit": 1000}).json()
    assert any(entry["username"] == "admin-1" for entry in made)


def _real_path_parameters(server: ApiServer) -> dict[str, str]:
    snapshot = server.hub.data_dir / "evidence" / "fuzz.jpg"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.write_bytes(b"\xff\xd8\xff\xe0 fuzz \xff\xd9")
    server.add_user("fuzz-target", Role.OPERATOR)
    return {
        "camera_id": "calm",
        "ticket_id": str(server.ticket(snapshot="evidence/fuzz.jpg")),
        "sensor_id": "jinsha-turbidity-1",
        "username": "fuzz-target",
    }


def _fuzz(server: ApiServer, operation: Any, path_parameters: dict[str, str]) -> str:
    headers = {"Authorization": f"Bearer {server.tokens[Role.ADMIN]}"}
    strategies = [operation.as_strategy(mode, path_parameters=path_parameters) for mode in MODES]

    @SETTINGS
    @hypothesis.given(case=st.one_of(*strategies))
    def fuzz(case: Any) -> None:
        case.call_and_validate(base_url=server.base_url, headers=headers, checks=CHECKS)

    try:
        fuzz()
    except (Exception, BaseExceptionGroup) as exc:  # collect every failure, then fail once
        return str(exc)
    return ""


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "put", "post", "delete", "patch"}
    ]


def _has_example(spec: dict[str, Any], answer: dict[str, Any]) -> bool:
    for media in answer.get("content", {}).values():
        if "example" in media or "examples" in media:
            return True
        schema = media.get("schema", {})
        ref = schema.get("$ref", "") or schema.get("items", {}).get("$ref", "")
        if ref:
            model = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            if "examples" in model or "example" in model:
                return True
    return False


def test_the_openapi_is_complete(api_server: ApiServer) -> None:
    with api_server.client() as client:
        spec = client.get("/openapi.json").json()
    problems = []
    for method, path, op in _operations(spec):
        name = f"{method} {path}"
        if not op.get("summary") or not op.get("description"):
            problems.append(f"{name}: no summary or description")
        main = min(code for code in op["responses"] if code.startswith("2"))
        if main != "204" and not _has_example(spec, op["responses"][main]):
            problems.append(f"{name}: no example for {main}")
        body = op.get("requestBody")
        if body is not None and not _has_example(spec, body):
            problems.append(f"{name}: no example of its request body")
        # The signed evidence links' signature is their credential (a 403 when it fails).
        guarded = path not in {"/healthz", "/readyz", "/api/auth/login", "/share/{alert_id}/{kind}"}
        if guarded and not {"401", "403"} <= set(op["responses"]):
            problems.append(f"{name}: 401/403 not documented")
    assert not problems, "\n".join(problems)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer",
                                 "description": "a token from `POST /api/auth/login`"}  # fmt: skip
