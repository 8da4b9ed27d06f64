"""PUT /config is safe (issue 11): a document holding only `users:` no longer wipes the account,
a dry run answers the diff and writes nothing, replacing omitted sections needs
`replace_missing=true`, and every applied import keeps the previous version for rollback."""

from __future__ import annotations

from typing import Any

import yaml

from tests.api.conftest import Api

YAML = {"Content-Type": "application/yaml"}


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _own(api: Api, name: str) -> tuple[str, str]:
    """A new account with a rich configuration (no FMC lines: those are the operator's)."""
    _account, admin = api.new_account(name)
    ids = api.seed_rich(admin)
    # its employee has it among his phones: the deletion is confirmed (ACC-4)
    api.ok(api.delete(f"/fmc-lines/{ids['fmc-lines']}", api.operator_token,
                      account_id=api.account_id(admin), params={"confirm": "true"}),
           204)  # fmt: skip
    return admin, api.get("/config", admin).text


def test_a_document_holding_only_users_keeps_the_rest_of_the_account(api: Api) -> None:
    admin, before = _own(api, "Only users")
    document = yaml.safe_load(before)
    only_users = {"vpbx_config": 1, "users": document["users"]}
    answer = api.ok(api.put("/config", admin, content=_dump(only_users), headers=YAML))
    assert "employees" in answer["kept"]
    assert "scenarios" in answer["kept"]
    assert answer["sections"]["employees"]["kept"] is True
    assert not any(s["deleted"] for s in answer["sections"].values())
    assert api.get("/config", admin).text == before
    assert api.count("employees", admin) >= 1


def test_a_dry_run_answers_the_diff_and_writes_nothing(api: Api) -> None:
    admin, before = _own(api, "Dry run")
    document = yaml.safe_load(before)
    document["tags"].append({"id": 99, "name": "brand new"})
    document["employees"][0]["last_name"] = "Переименов"
    document["blacklist"] = []
    answer = api.ok(
        api.put("/config", admin, content=_dump(document), headers=YAML, params={"dry_run": True})
    )
    assert answer["dry_run"] is True
    assert answer["version_id"] is None
    sections = answer["sections"]
    assert sections["tags"]["created"] == [len(document["tags"])]
    assert sections["employees"]["changed"] == [1]
    assert sections["blacklist"]["deleted"] == [1]
    assert api.get("/config", admin).text == before
    assert api.ok(api.get("/config/versions", admin)) == []


def test_replacing_omitted_sections_needs_the_flag(api: Api) -> None:
    admin, before = _own(api, "Replace missing")
    document = yaml.safe_load(before)
    del document["blacklist"]
    kept = api.ok(api.put("/config", admin, content=_dump(document), headers=YAML))
    assert kept["kept"] == ["blacklist"]
    assert api.count("blacklist", admin) == 1
    replaced = api.ok(
        api.put(
            "/config",
            admin,
            content=_dump(document),
            headers=YAML,
            params={"replace_missing": True},
        )
    )
    assert replaced["kept"] == []
    assert replaced["sections"]["blacklist"]["deleted"] == [1]
    assert api.count("blacklist", admin) == 0


def test_every_import_keeps_the_previous_version_and_rollback_restores_it(api: Api) -> None:
    admin, before = _own(api, "Rollback")
    document = yaml.safe_load(before)
    document["tags"] = [{"id": 1, "name": "only this one"}]
    answer = api.ok(api.put("/config", admin, content=_dump(document), headers=YAML))
    after = api.get("/config", admin).text
    assert after != before
    versions = api.ok(api.get("/config/versions", admin))
    assert [v["id"] for v in versions] == [answer["version_id"]]
    assert versions[0]["source"] == "import"
    stored = api.get(f"/config/versions/{answer['version_id']}", admin)
    assert stored.status_code == 200
    assert stored.text == before
    restored = api.ok(api.post("/config/rollback", admin))
    assert api.get("/config", admin).text == before
    # The configuration the rollback replaced is a version too: the rollback can be undone.
    assert api.ok(api.get("/config/versions", admin))[0]["id"] == restored["version_id"]
    api.ok(api.post("/config/rollback", admin, json={"version_id": restored["version_id"]}))
    assert api.get("/config", admin).text == after


def test_versions_are_the_admins_and_the_accounts_own(api: Api) -> None:
    admin, before = _own(api, "Versions owner")
    answer = api.ok(api.put("/config", admin, content=before, headers=YAML))
    supervisor = api.user(admin, "supervisor")
    assert api.get("/config/versions", supervisor).status_code == 403
    assert api.post("/config/rollback", supervisor).status_code == 403
    _other, stranger = api.new_account("Stranger")
    response = api.get(f"/config/versions/{answer['version_id']}", stranger)
    assert response.status_code == 404
    assert api.post("/config/rollback", stranger).status_code == 404
