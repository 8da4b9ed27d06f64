"""SCN-LINT through the API: saving a scenario answers its lost-call warnings beside it."""

from __future__ import annotations

from tests.api.conftest import Api

MENU_WITHOUT_FALLBACKS = {
    "name": "Меню без запасных выходов",
    "entry": "menu",
    "operations": [
        {"key": "menu", "kind": "menu", "prompt_text": "Нажмите 1", "exits": {"1": "vm"}},
        {"key": "vm", "kind": "voicemail", "emails": ["office@example.com"]},
    ],
}


def test_saving_a_scenario_answers_its_warnings(api: Api) -> None:
    _account, admin = api.new_account("Lint")
    created = api.post("/scenarios", admin, json=MENU_WITHOUT_FALLBACKS)
    assert created.status_code == 201, api.explain(created)
    codes = {w["code"] for w in created.json()["warnings"]}
    assert {"menu_no_timeout", "menu_no_invalid"} <= codes, codes
    scenario_id = created.json()["id"]
    fixed = {
        **MENU_WITHOUT_FALLBACKS,
        "operations": [
            {
                "key": "menu",
                "kind": "menu",
                "prompt_text": "Нажмите 1",
                "exits": {"1": "vm", "timeout": "vm", "invalid": "vm"},
            },
            MENU_WITHOUT_FALLBACKS["operations"][1],
        ],
    }
    replaced = api.put(f"/scenarios/{scenario_id}", admin, json=fixed)
    assert replaced.status_code == 200, api.explain(replaced)
    assert replaced.json()["warnings"] == []
    # The stored document is unchanged by the warnings (GET has none).
    assert "warnings" not in api.get(f"/scenarios/{scenario_id}", admin).json()
