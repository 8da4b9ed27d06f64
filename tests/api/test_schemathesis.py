"""No 500 from input: schemathesis over the served OpenAPI document, every operation.

Each operation of the document gets generated requests (valid ones, and invalid ones: wrong
types, missing fields, out-of-range numbers) sent as the admin of a seeded account, and each
answer is checked with schemathesis' "not a server error" and "response schema conformance"
checks. The examples per operation are bounded (`EXAMPLES`, fewer invalid ones on SQLite:
`examples`) so the whole run stays within a couple of minutes per backend; Hypothesis is
derandomized so a failure is reproduced by rerunning.
The regression tests of the cases it found are in `test_bad_input.py`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import Api, unique
from vpbx.api.app import PREFIX

METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
#: examples per operation and generation mode (positive, negative); VPBX_FUZZ_EXAMPLES for longer
EXAMPLES = int(os.environ.get("VPBX_FUZZ_EXAMPLES", "6"))


def examples(backend: str, mode: GenerationMode) -> int:
    """Every example on PostgreSQL; on SQLite a third of the negative ones. Invalid requests are
    refused by the API's validation before any service or storage runs, the same code on both
    backends; what gets further reaches PostgreSQL's stricter storage (integer ranges, NUL in
    text) on the other run. Valid requests get every example on both: they do reach storage."""
    if backend == "sqlite" and mode is GenerationMode.NEGATIVE:
        return max(1, EXAMPLES // 3)
    return EXAMPLES


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def _operation_count(spec: dict[str, Any]) -> int:
    return sum(len(METHODS & set(item)) for item in spec["paths"].values())


def test_no_operation_answers_a_server_error(api: Api, session: requests.Session) -> None:
    _account, owner = api.new_account("Fuzzed")
    api.seed_rich(owner)
    # The fuzzing admin's own user is kept out of reach of the generated requests: deleting it
    # (or changing its password) would end the session and leave the rest of the run at 401.
    login, password = f"fuzz{unique()}", f"fuzz-pass-{unique()}"
    body = {"login": login, "password": password, "role": "admin", "full_name": "Fuzz"}
    me = api.ok(api.post("/users", owner, json=body), 201)["id"]
    admin = api.login(login, password)
    users_item = f"{PREFIX}/users/{{entity_id}}"
    spec = api.openapi()
    schema = schemathesis.openapi.from_dict(spec)
    # The session operations (logout, password change) may end the admin's session: last, so
    # every other operation is exercised authenticated (checked below).
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: operation.path.startswith(f"{PREFIX}/auth/"),
    )
    # Every operation of the served document is exercised, none skipped.
    assert len(operations) == _operation_count(spec)
    print(f"schemathesis: {len(operations)} operations")
    # POST /auth/logout ends the session of the admin's token: every operation after it would
    # only see 401. It runs last.
    operations.sort(key=lambda op: op.path.endswith("/auth/logout"))
    auth = {"Authorization": f"Bearer {admin}"}
    failures: list[str] = []
    checks = [not_a_server_error, response_schema_conformance]
    checked_session = False
    for operation in operations:
        if operation.path.startswith(f"{PREFIX}/auth/") and not checked_session:
            assert api.get("/account", admin).status_code == 200, "the admin's session ended"
            checked_session = True
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=examples(api.kind, mode),
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(mode))
            def exercise(case: schemathesis.Case) -> None:
                mine = (case.path_parameters or {}).get("entity_id") == me
                hypothesis.assume(not (case.operation.path == users_item and mine))
                headers = dict(case.headers or {}) | auth
                # The operator's header would make the admin's request a 403 before validation.
                headers.pop("X-Account-Id", None)
                case.headers = headers
                response = case.call(base_url=api.base_url, session=session, timeout=30)
                case.validate_response(response, checks=checks, headers=headers)

            try:
                exercise()
            except hypothesis.errors.Unsatisfiable:
                # An operation without parameters or body (GET /health) has nothing to make
                # invalid: its negative mode generates no request at all.
                assert mode is GenerationMode.NEGATIVE, operation.label
            # FailureGroup (schemathesis' failed checks) is a BaseExceptionGroup, not an Exception.
            except (Exception, FailureGroup) as error:
                failures.append(f"{operation.label} [{mode.value}]: {error}")
    assert not failures, "\n\n".join(failures[:20]) + f"\n({len(failures)} failing)"
