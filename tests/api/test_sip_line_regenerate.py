"""SIP-1: an admin regenerates a SIP line's password (POST /sip-lines/{id}/regenerate-secret).

The new password is generated as at the line's creation, stored (reveal-secret shows it), written
to the audit log; other roles are refused as for the reveal, another account's line is unknown.
"""

from __future__ import annotations

from tests.api.conftest import Api, unique


def test_an_admin_regenerates_a_sip_line_password(api: Api) -> None:
    mark = f"regen{unique()}"
    _, admin = api.new_account(f"Regenerate {mark}")
    ids = api.seed_rich(admin, mark)
    line_id = ids["sip-lines"]
    reveal = f"/sip-lines/{line_id}/reveal-secret"
    regenerate = f"/sip-lines/{line_id}/regenerate-secret"
    old = api.ok(api.post(reveal, admin))["secrets"]["password"]

    answer = api.ok(api.post(regenerate, admin))
    new = answer["secrets"]["password"]
    assert answer["id"] == line_id
    assert new != old
    assert len(new) >= 16
    assert api.ok(api.post(reveal, admin))["secrets"]["password"] == new
    assert api.ok(api.get(f"/sip-lines/{line_id}", admin))["password"] == "••••"

    entries = api.ok(api.get("/audit", admin, params={"resource": "sip-lines"}))["items"]
    entry = next(e for e in entries if e["operation"] == "regenerate")
    assert entry["entity_id"] == line_id
    assert entry["actor_role"] == "admin"
    assert new not in str(entry)

    supervisor = api.user(admin, "supervisor")
    employee = api.user(admin, "employee", ids["employees"])
    for token in (supervisor, employee):
        assert api.post(regenerate, token).status_code == 403
        assert api.post(reveal, token).status_code == 403
    assert api.ok(api.post(reveal, admin))["secrets"]["password"] == new

    _, other = api.new_account(f"Other {mark}")
    assert api.post(regenerate, other).status_code == 404
    assert api.ok(api.post(reveal, admin))["secrets"]["password"] == new
    assert api.post("/sip-lines/987654321/regenerate-secret", admin).status_code == 404
