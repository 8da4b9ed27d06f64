"""/health and /metrics of an API that runs without a switch (the API alone, as these tests
serve it): 200 with no switch to report, and the API's own counters in Prometheus text."""

from __future__ import annotations

import re

from tests.api.conftest import Api


def test_health_without_a_switch_reports_the_api(api: Api) -> None:
    response = api.client.get(f"{api.base_url}/health")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["switch"] is None
    assert body["api"]["database"] == {"sqlite": "sqlite", "postgres": "postgresql"}[api.kind]
    assert body["api"]["pid"] > 0


def test_health_is_in_the_openapi_document_and_metrics_is_not(api: Api) -> None:
    paths = api.openapi()["paths"]

    assert "503" in paths["/health"]["get"]["responses"]
    assert "/metrics" not in paths


def test_metrics_are_prometheus_text(api: Api) -> None:
    response = api.client.get(f"{api.base_url}/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert re.search(r"^# TYPE vpbx_api_security_events_total counter$", response.text, re.M)


def _security_events(api: Api, kind: str) -> float:
    text = api.client.get(f"{api.base_url}/metrics").text
    found = re.search(rf'^vpbx_api_security_events_total\{{kind="{kind}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_wrong_login_is_a_security_event(api: Api) -> None:
    before = _security_events(api, "login_failed")
    response = api.post("/auth/login", json={"login": "nobody@x", "password": "wrong-pass"})

    assert response.status_code == 401
    assert _security_events(api, "login_failed") == before + 1
