"""TAG-1 over HTTP on a running API (both backends): `PUT`/`GET /calls/{id}/tags` replace and
read a call's tags, the calls report finds the call by the tag, unknown and foreign tag ids are
422 naming the field, another account's call is 404, only admins (and the operator) write, and
no list of ids whatever answers a server error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api import rich
from tests.api.conftest import Api, unique, utcnow
from vpbx.api.app import PREFIX
from vpbx.storage import tables as t


@dataclass
class Shop:
    account_id: int
    admin: str
    vip: int
    sale: int
    employee_id: int
    #: a call of the employee with no tags, and one of nobody
    call: int
    other_call: int
    #: another account: its admin, a tag and a call
    foreign_admin: str
    foreign_tag: int
    foreign_call: int


def _call(api: Api, account_id: int, employee_id: int | None) -> int:
    row = rich.call_row(account_id, {}, f"tags{unique()}", utcnow(), employee_id)
    return api.insert(t.calls, row)


@pytest.fixture(scope="module")
def shop(api: Api) -> Shop:
    account_id, admin = api.new_account(f"Call tags {unique()}")
    vip = api.create("tags", admin, {"name": "VIP"})["id"]
    sale = api.create("tags", admin, {"name": "Продажа"})["id"]
    employee_id = api.create(
        "employees", admin, {"last_name": "Tagger", "phones": [{"kind": "sip"}]}
    )["id"]
    foreign_account, foreign_admin = api.new_account(f"Other tags {unique()}")
    foreign_tag = api.create("tags", foreign_admin, {"name": "VIP"})["id"]
    return Shop(
        account_id=account_id,
        admin=admin,
        vip=vip,
        sale=sale,
        employee_id=employee_id,
        call=_call(api, account_id, employee_id),
        other_call=_call(api, account_id, None),
        foreign_admin=foreign_admin,
        foreign_tag=foreign_tag,
        foreign_call=_call(api, foreign_account, None),
    )


def put_tags(api: Api, token: str, call_id: int, tag_ids: Any) -> Any:
    return api.put(f"/calls/{call_id}/tags", token, json={"tag_ids": tag_ids})


def report_ids(api: Api, token: str, tag_id: int) -> set[int]:
    page = api.ok(api.get("/calls", token, params={"tag_id": tag_id, "limit": 1000}))
    return {item["id"] for item in page["items"]}


def test_tags_put_through_the_api_are_found_by_the_report_filter(api: Api, shop: Shop) -> None:
    answer = api.ok(put_tags(api, shop.admin, shop.call, [shop.sale, shop.vip, shop.sale]))

    assert answer == {"tag_ids": [shop.sale, shop.vip]}  # repeated ids are stored once
    assert api.ok(api.get(f"/calls/{shop.call}/tags", shop.admin)) == answer
    assert api.ok(api.get(f"/calls/{shop.call}", shop.admin))["tag_ids"] == [shop.sale, shop.vip]
    assert report_ids(api, shop.admin, shop.vip) == {shop.call}
    assert report_ids(api, shop.admin, shop.sale) == {shop.call}

    # replaced, not added to
    api.ok(put_tags(api, shop.admin, shop.call, [shop.vip]))
    assert report_ids(api, shop.admin, shop.sale) == set()
    assert report_ids(api, shop.admin, shop.vip) == {shop.call}
    api.ok(put_tags(api, shop.admin, shop.call, []))
    assert report_ids(api, shop.admin, shop.vip) == set()


def test_unknown_and_foreign_tag_ids_are_422_naming_the_field(api: Api, shop: Shop) -> None:
    api.ok(put_tags(api, shop.admin, shop.other_call, [shop.vip]))

    refused = put_tags(api, shop.admin, shop.other_call, [shop.sale, shop.foreign_tag, 987_654_321])

    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["error_id"] == "validation_failed"
    assert [(e["field"], e["error_id"]) for e in body["errors"]] == [
        ("tag_ids.1", "unknown_reference"),
        ("tag_ids.2", "unknown_reference"),
    ]
    # nothing changed
    assert api.ok(api.get(f"/calls/{shop.other_call}/tags", shop.admin)) == {"tag_ids": [shop.vip]}
    for bad in ([0], [-1], [2**63], ["x"], None, [shop.vip] * 101):
        response = put_tags(api, shop.admin, shop.other_call, bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["field"].startswith("tag_ids"), response.text
    extra = api.put(
        f"/calls/{shop.other_call}/tags", shop.admin, json={"tag_ids": [], "color": "#fff"}
    )
    assert extra.status_code == 422, extra.text


def test_another_accounts_call_is_404_and_keeps_its_tags(api: Api, shop: Shop) -> None:
    for response in (
        put_tags(api, shop.admin, shop.foreign_call, [shop.vip]),
        api.get(f"/calls/{shop.foreign_call}/tags", shop.admin),
        put_tags(api, shop.admin, 2**63 - 1, []),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error_id"] == "not_found"
    theirs = api.ok(api.get(f"/calls/{shop.foreign_call}/tags", shop.foreign_admin))
    assert theirs == {"tag_ids": []}


def test_only_admins_and_the_operator_replace_tags(api: Api, shop: Shop) -> None:
    supervisor = api.user(shop.admin, "supervisor")
    employee = api.user(shop.admin, "employee", employee_id=shop.employee_id)
    api.ok(put_tags(api, shop.admin, shop.call, [shop.vip]))

    for token in (supervisor, employee):
        refused = put_tags(api, token, shop.call, [shop.sale])
        assert refused.status_code == 403, refused.text
        assert refused.json()["error_id"] == "forbidden"
    by_operator = api.put(
        f"/calls/{shop.call}/tags",
        api.operator_token,
        account_id=shop.account_id,
        json={"tag_ids": [shop.vip, shop.sale]},
    )

    assert api.ok(by_operator) == {"tag_ids": [shop.vip, shop.sale]}
    # reading follows reading the call: the supervisor any, the employee his own only
    assert api.ok(api.get(f"/calls/{shop.call}/tags", supervisor))["tag_ids"] == [
        shop.vip,
        shop.sale,
    ]
    assert api.ok(api.get(f"/calls/{shop.call}/tags", employee))["tag_ids"] == [
        shop.vip,
        shop.sale,
    ]
    assert api.get(f"/calls/{shop.other_call}/tags", employee).status_code == 404


def test_a_tag_deleted_since_stays_when_the_list_is_sent_back(api: Api, shop: Shop) -> None:
    gone = api.create("tags", shop.admin, {"name": f"temporary {unique()}"})["id"]
    call = _call(api, shop.account_id, None)
    api.ok(put_tags(api, shop.admin, call, [gone]))
    api.ok(api.delete(f"/tags/{gone}", shop.admin), 204)

    # GET, add one, PUT: what the call carries is not refused; it cannot be added elsewhere
    tags = api.ok(api.get(f"/calls/{call}/tags", shop.admin))["tag_ids"]
    assert api.ok(put_tags(api, shop.admin, call, [*tags, shop.vip])) == {
        "tag_ids": [gone, shop.vip]
    }
    assert put_tags(api, shop.admin, shop.other_call, [gone]).status_code == 422


def test_the_tags_routes_are_in_the_openapi_document(api: Api) -> None:
    item = api.openapi()["paths"][f"{PREFIX}/calls/{{call_id}}/tags"]

    assert {"get", "put"} <= set(item)
    assert "ErrorBody" in str(item["put"]["responses"]["422"])
    assert "ErrorBody" in str(item["put"]["responses"]["404"])


_ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=1, max_value=50),
    st.sampled_from([0, 1, 2**63 - 1, 2**63]),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tag_ids=st.one_of(
        st.lists(_ids, max_size=120),
        st.lists(
            st.one_of(
                _ids,
                st.text(max_size=5),
                st.none(),
                st.floats(allow_nan=False, allow_infinity=False),
            ),
            max_size=5,
        ),
    )
)
def test_no_list_of_tag_ids_answers_a_server_error(
    api: Api, shop: Shop, tag_ids: list[Any]
) -> None:
    response = put_tags(api, shop.admin, shop.other_call, tag_ids)

    assert response.status_code in (200, 422), api.explain(response)
    if response.status_code == 200:
        assert set(response.json()["tag_ids"]) <= {shop.vip, shop.sale}
