"""ETag / If-Match on the entity routes (issue 14: two admins editing the same entity).

GET (and every save) answers the entity's ETag; a PUT or PATCH sent with a stale If-Match is
refused with 412 and changes nothing; without If-Match a write works as it always did.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.api.conftest import Api, unique

SCHEDULE = {"name": "Будни", "kind": "weekly", "weekly": [{"weekday": 1, "intervals": []}]}


def _schedule(api: Api, token: str) -> tuple[int, str]:
    created = api.post("/schedules", token, json={**SCHEDULE, "name": f"Будни {unique()}"})
    body = api.ok(created, 201)
    return body["id"], created.headers["ETag"]


def test_get_and_saves_answer_the_same_etag(api: Api) -> None:
    _account, admin = api.new_account("ETag")
    schedule_id, created_tag = _schedule(api, admin)
    got = api.get(f"/schedules/{schedule_id}", admin)
    assert got.status_code == 200
    assert got.headers["ETag"] == created_tag
    assert created_tag.startswith('"')
    assert created_tag.endswith('"')
    # Reading again changes nothing.
    assert api.get(f"/schedules/{schedule_id}", admin).headers["ETag"] == created_tag


def test_a_stale_if_match_is_refused_with_412_and_nothing_changes(api: Api) -> None:
    _account, admin = api.new_account("ETag stale")
    schedule_id, tag = _schedule(api, admin)
    document = {k: v for k, v in api.ok(api.get(f"/schedules/{schedule_id}", admin)).items()}
    document.pop("id")
    first = api.put(
        f"/schedules/{schedule_id}",
        admin,
        json={**document, "name": "Первый админ"},
        headers={"If-Match": tag},
    )
    assert first.status_code == 200, api.explain(first)
    new_tag = first.headers["ETag"]
    assert new_tag != tag
    assert api.get(f"/schedules/{schedule_id}", admin).headers["ETag"] == new_tag

    second = api.put(
        f"/schedules/{schedule_id}",
        admin,
        json={**document, "name": "Второй админ"},
        headers={"If-Match": tag},
    )
    assert second.status_code == 412, api.explain(second)
    body = second.json()
    assert body["error_id"] == "precondition_failed"
    assert "someone else" in body["message"]
    assert "другим пользователем" in body["message"]
    assert api.ok(api.get(f"/schedules/{schedule_id}", admin))["name"] == "Первый админ"

    stale_patch = api.patch(
        f"/schedules/{schedule_id}", admin, json={"name": "Третий"}, headers={"If-Match": tag}
    )
    assert stale_patch.status_code == 412, api.explain(stale_patch)
    fresh_patch = api.patch(
        f"/schedules/{schedule_id}", admin, json={"name": "Третий"}, headers={"If-Match": new_tag}
    )
    assert fresh_patch.status_code == 200, api.explain(fresh_patch)
    # A weak tag never matches (If-Match compares strongly); "*" matches any stored entity.
    weak = api.patch(
        f"/schedules/{schedule_id}",
        admin,
        json={"name": "Слабый"},
        headers={"If-Match": "W/" + fresh_patch.headers["ETag"]},
    )
    assert weak.status_code == 412
    star = api.patch(
        f"/schedules/{schedule_id}", admin, json={"name": "Любой"}, headers={"If-Match": "*"}
    )
    assert star.status_code == 200, api.explain(star)
    listed = api.patch(
        f"/schedules/{schedule_id}",
        admin,
        json={"name": "Список"},
        headers={"If-Match": f'"nope", {star.headers["ETag"]}'},
    )
    assert listed.status_code == 200, api.explain(listed)


def test_without_if_match_a_put_works_as_before(api: Api) -> None:
    _account, admin = api.new_account("ETag none")
    schedule_id, _tag = _schedule(api, admin)
    api.ok(api.patch(f"/schedules/{schedule_id}", admin, json={"name": "Изменён"}))
    replaced = api.put(f"/schedules/{schedule_id}", admin, json={**SCHEDULE, "name": "Снова"})
    assert replaced.status_code == 200, api.explain(replaced)
    assert api.ok(api.get(f"/schedules/{schedule_id}", admin))["name"] == "Снова"
    # A missing entity is still a 404, with or without If-Match.
    missing = api.put("/schedules/999999999", admin, json=SCHEDULE, headers={"If-Match": "*"})
    assert missing.status_code == 404


def test_a_change_made_through_another_entity_changes_the_etag(api: Api) -> None:
    """An employee's save that adds him to a group changes the group's answer and tag."""
    _account, admin = api.new_account("ETag members")
    group = api.post("/groups", admin, json={"name": "Продажи"})
    group_id = api.ok(group, 201)["id"]
    before = api.get(f"/groups/{group_id}", admin).headers["ETag"]
    api.ok(
        api.post(
            "/employees",
            admin,
            json={"last_name": "Иванов", "group_ids": [group_id], "phones": [{"kind": "sip"}]},
        ),
        201,
    )
    after = api.get(f"/groups/{group_id}", admin)
    assert after.json()["member_ids"], after.json()
    assert after.headers["ETag"] != before
    stale = api.put(
        f"/groups/{group_id}", admin, json={"name": "Продажи 2"}, headers={"If-Match": before}
    )
    assert stale.status_code == 412


def _race(api: Api, token: str, path: str, tag: str) -> list[httpx.Response]:
    """Two PUTs with the same If-Match sent at once (threads released by a barrier)."""
    answers: list[httpx.Response] = []
    start = threading.Barrier(2)

    def save(name: str) -> None:
        start.wait()
        with httpx.Client(timeout=30) as client:
            body: dict[str, Any] = {**SCHEDULE, "name": name}
            headers = {**api.headers(token), "If-Match": tag}
            answers.append(client.put(api.api_url + path, json=body, headers=headers))

    threads = [threading.Thread(target=save, args=(f"Админ {n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_two_saves_with_the_same_version_at_once_one_wins(api: Api) -> None:
    """Racing saves based on one ETag: never both written (PostgreSQL locks the row; SQLite
    has one writer and may answer the loser 503 busy instead of 412)."""
    _account, admin = api.new_account("ETag race")
    statuses: list[int] = []
    for _round in range(3):
        schedule_id, tag = _schedule(api, admin)
        answers = _race(api, admin, f"/schedules/{schedule_id}", tag)
        codes = sorted(a.status_code for a in answers)
        assert codes[0] == 200, [a.text for a in answers]
        assert codes[1] in (412, 503), [a.text for a in answers]
        statuses.append(codes[1])
        winner = next(a for a in answers if a.status_code == 200).json()["name"]
        assert api.ok(api.get(f"/schedules/{schedule_id}", admin))["name"] == winner
    if api.kind == "postgres":
        assert statuses == [412, 412, 412]
