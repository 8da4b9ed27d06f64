"""ACC-3 over HTTP: the whole account as YAML, exported and imported back exactly."""

from __future__ import annotations

import yaml

from tests.api.conftest import Api

YAML = {"Content-Type": "application/yaml"}


def test_the_yaml_of_a_rich_account_round_trips_through_the_api(api: Api) -> None:
    account, admin = api.new_account("Round trip")
    api.seed_rich(admin)
    exported = api.get("/config", admin)
    assert exported.status_code == 200, api.explain(exported)
    document = yaml.safe_load(exported.text)
    assert document["employees"]
    assert document["scenarios"]
    assert document["fmc-lines"]
    # FMC lines are the operator's (FMC-1): an admin may not import a document holding them.
    refused = api.put("/config", admin, content=exported.text, headers=YAML)
    assert refused.status_code == 403
    operator = {"token": api.operator_token, "account_id": account}
    imported = api.put("/config", content=exported.text, headers=YAML, **operator)
    assert imported.status_code == 200, api.explain(imported)
    assert api.get("/config", admin).text == exported.text
    document["employees"][0]["extension"] = "8812"
    broken = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    invalid = api.put("/config", content=broken, headers=YAML, **operator)
    assert invalid.status_code == 422, api.explain(invalid)
    assert invalid.json()["errors"][0]["field"] == "employees.0.extension"
    assert api.get("/config", admin).text == exported.text  # all or nothing
