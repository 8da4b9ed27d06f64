"""Proof on live calls (issue 12) of the scenario operations the engine tests cover: SCN-AUTH,
the menu's timeout / invalid input / `#` back / extension input, SCN-EXT, SCN-PM, SCN-INS,
SCN-IVX against a real HTTP CRM (and one that times out), SCN-VISIT, SCN-REGION, SCN-SEGMENT and
NUM-2's rules by schedule and by caller list.

One PBX serves the module: every behaviour has its own virtual number and scenario, whose
outcomes end in a sound file of one tone (a marker) or at an employee's baresip phone (each says
its own tone). SIPp calls as the trunk, saying RFC 4733 keys; all calls run at once (each has its
own caller number, so its report row is found by caller and number), then every test checks what
its trunk caller heard and what the report and the call details say."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.rtp_pcap import Segment, digits, silence, tone
from tests.switch.crm_server import CrmServer, Reply
from tests.switch.harness import RunningPbx, Setup, running_pbx
from tests.switch.live import (
    Caller,
    Heard,
    finished_rows,
    kinds,
    row_and_steps,
    run_together,
    sound,
    start_phones,
    texts,
)
from tests.switch.observe import details
from vpbx.domain.net_policy import parse_networks
from vpbx.services.entities import EntityService

# Employees' phones say these; the markers are the sound files the outcomes play.
PHONE_HZ = (700.0, 1000.0, 1300.0)
BEEP_HZ = 300.0  # the prompt of every menu / code input: a short beep file
#: prompts after which the scenario ends the call at once (an unlinked exit): the caller gets
#: them as early media only, whose first half-second its capture missed on a slower machine
#: (0.94 s of a 1.5 s prompt recorded; stop 24's note): longer, so a second of tone is still heard
LAST = frozenset({"pm_failed", "moscow", "spb"})
LAST_PROMPT = 2.5
MARKERS = {
    "auth_yes": 450.0,
    "auth_no": 550.0,
    "timeout": 600.0,
    "invalid": 850.0,
    "sub": 1150.0,
    "ext_bad": 1450.0,
    "pm_failed": 1550.0,
    "crm_code": 1650.0,
    "crm_fallback": 1750.0,
    "first": 1850.0,
    "repeat": 1950.0,
    "moscow": 2050.0,
    "spb": 2150.0,
    "region_others": 2250.0,
    "seg_vip": 2350.0,
    "seg_none": 2450.0,
    "seg_others": 2550.0,
    "rule_never": 2650.0,
    "rule_list": 2750.0,
    "rule_always": 2850.0,
}
EVERY_TONE = (*PHONE_HZ, *MARKERS.values())

NUMBERS = {
    "auth": "74951112201",
    "menu": "74951112202",
    "ext": "74951112203",
    "pm": "74951112204",
    "ivx": "74951112205",
    "visit": "74951112206",
    "region": "74951112207",
    "segment": "74951112208",
    "rules": "74951112209",
}
PM_CLIENT = "74950000401"  # a contact whose personal manager is employee 1
VIP = "79035550001"  # in the segment «VIP» by number
LISTED = "74950000901"  # in the caller-ID list of rule 2
SLOW = "74950000502"  # the CRM answers this caller too late


# -- the CRM ---------------------------------------------------------------------------------------


class Crm(CrmServer):
    """Interactive processing answered as IVX-2 says: code 5 for the input 42; the caller SLOW
    gets his answer after 3 s (the operation waits 1.5 s)."""

    def answer(self, query: dict[str, str]) -> Reply:
        if query.get("numa") == SLOW:
            time.sleep(3.0)
        code = 5 if query.get("input_result") == "42" else 9
        return Reply.of_json({"returned_code": code})


# -- the configuration -----------------------------------------------------------------------------


def info(key: str, file_id: int) -> dict[str, Any]:
    return {"key": key, "kind": "info", "file_ids": [file_id]}


def configure(workdir: Path, crm: Crm) -> Any:
    async def customize(base: EntityService, setup: Setup) -> None:
        svc = EntityService(
            base.conn, base.actor, base.clock, url_allow=parse_networks("127.0.0.1/32")
        )
        beep = await sound(svc, workdir, "beep", BEEP_HZ, 0.3)
        m = {
            name: await sound(svc, workdir, name, hz, LAST_PROMPT if name in LAST else 1.5)
            for name, hz in MARKERS.items()
        }
        staff = setup.staff

        async def scenario(name: str, entry: str, *ops: dict[str, Any]) -> int:
            doc = {"name": name, "entry": entry, "operations": list(ops)}
            return int((await svc.create("scenarios", doc)).model_dump()["id"])

        async def number(key: str, *rules: dict[str, Any]) -> None:
            await svc.create("numbers", {"number": NUMBERS[key], "rules": list(rules)})

        # SCN-AUTH
        auth = await scenario(
            "Авторизация",
            "auth",
            {
                "key": "auth",
                "kind": "auth",
                "prompt_file_id": beep,
                "code": "2468",
                "inter_digit_timeout": 2,
                "exits": {"yes": "ok", "no": "bad"},
            },
            info("ok", m["auth_yes"]),
            info("bad", m["auth_no"]),
        )
        await number("auth", {"scenario_id": auth})
        # SCN-INS: a scenario inserted by the menu, with its own menu (`#` returns)
        sub = await scenario(
            "Подменю",
            "submenu",
            {
                "key": "submenu",
                "kind": "menu",
                "prompt_file_id": beep,
                "timeout": 3,
                "hash_returns": True,
                "exits": {"3": "said"},
            },
            info("said", m["sub"]),
        )
        # SCN-MENU with timeout, invalid input, the insert on 1 and the extension input
        menu = await scenario(
            "Меню",
            "menu",
            {
                "key": "menu",
                "kind": "menu",
                "prompt_file_id": beep,
                "timeout": 2,
                "exits": {
                    "1": "insert",
                    "timeout": "late",
                    "invalid": "wrong",
                    "extension_input": "dial",
                },
            },
            {"key": "insert", "kind": "insert", "scenario_id": sub},
            {"key": "dial", "kind": "extension", "from_menu": True},
            info("late", m["timeout"]),
            info("wrong", m["invalid"]),
        )
        await number("menu", {"scenario_id": menu})
        # SCN-EXT
        ext = await scenario(
            "Добавочный",
            "ext",
            {
                "key": "ext",
                "kind": "extension",
                "prompt_file_id": beep,
                "inter_digit_timeout": 2,
                "exits": {"invalid": "nobody"},
            },
            info("nobody", m["ext_bad"]),
        )
        await number("ext", {"scenario_id": ext})
        # SCN-PM
        await svc.create(
            "contacts",
            {"last_name": "Клиентов", "phones": [PM_CLIENT], "manager_id": staff[0]["id"]},
        )
        pm = await scenario(
            "Менеджер",
            "pm",
            {
                "key": "pm",
                "kind": "personal_manager",
                "ring_timeout": 10,
                "exits": {"failed": "none"},
            },
            info("none", m["pm_failed"]),
        )
        await number("pm", {"scenario_id": pm})
        # SCN-IVX
        ivx = await scenario(
            "CRM",
            "ivx",
            {
                "key": "ivx",
                "kind": "interactive",
                "url": crm.url,
                "params": ["cdr_id", "start_time", "input_result", "numa", "numb"],
                "dtmf_length": 2,
                "prompt_file_id": beep,
                "timeout": 1.5,
                "codes": [{"code": 5, "target": "coded"}],
                "exits": {"fallback": "fallback"},
            },
            info("coded", m["crm_code"]),
            info("fallback", m["crm_fallback"]),
        )
        await number("ivx", {"scenario_id": ivx})
        # SCN-VISIT
        visit = await scenario(
            "Визит",
            "visit",
            {
                "key": "visit",
                "kind": "visit",
                "interval_hours": 24,
                "exits": {"first": "first", "repeat": "again"},
            },
            info("first", m["first"]),
            info("again", m["repeat"]),
        )
        await number("visit", {"scenario_id": visit})
        # SCN-REGION
        region = await scenario(
            "Регион",
            "region",
            {
                "key": "region",
                "kind": "region",
                "branches": [
                    {"region": "Москва", "target": "msk"},
                    {"region": "Санкт-Петербург", "target": "spb"},
                ],
                "exits": {"others": "rest"},
            },
            info("msk", m["moscow"]),
            info("spb", m["spb"]),
            info("rest", m["region_others"]),
        )
        await number("region", {"scenario_id": region})
        # SCN-SEGMENT
        vip = await svc.create("segments", {"name": "VIP", "conditions": {"numbers": [VIP]}})
        await svc.create(
            "segments", {"name": "Питер", "conditions": {"regions": ["Санкт-Петербург"]}}
        )
        segment = await scenario(
            "Сегмент",
            "segment",
            {
                "key": "segment",
                "kind": "segment",
                "branches": [{"segment_id": vip.model_dump()["id"], "target": "vip"}],
                "exits": {"no_segment": "none", "others": "rest"},
            },
            info("vip", m["seg_vip"]),
            info("none", m["seg_none"]),
            info("rest", m["seg_others"]),
        )
        await number("segment", {"scenario_id": segment})
        # NUM-2: by schedule and by caller list, first match wins
        every_day = [
            {"weekday": d, "intervals": [{"start": "00:00", "end": "00:00"}]} for d in range(1, 8)
        ]
        never = await svc.create(
            "schedules", {"name": "Закрыто", "weekly": every_day, "active_to": "2000-01-01"}
        )
        always = await svc.create("schedules", {"name": "Всегда", "weekly": every_day})
        listed = await svc.create("caller-lists", {"name": "Партнеры", "numbers": [LISTED]})
        by_never = await scenario("Правило 1", "x", info("x", m["rule_never"]))
        by_list = await scenario("Правило 2", "x", info("x", m["rule_list"]))
        by_always = await scenario("Правило 3", "x", info("x", m["rule_always"]))
        await number(
            "rules",
            {"name": "ночь", "schedule_id": never.model_dump()["id"], "scenario_id": by_never},
            {
                "name": "партнеры",
                "callers": {"scope": "lists", "caller_list_ids": [listed.model_dump()["id"]]},
                "scenario_id": by_list,
            },
            {"name": "днем", "schedule_id": always.model_dump()["id"], "scenario_id": by_always},
        )

    return customize


# -- the calls -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    number: str
    caller: str
    segments: list[Segment]
    hangs_up: bool = False  # True: the caller ends a talk with an employee


def keys(pressed: str, before: float = 0.6, after: float = 6.0) -> list[Segment]:
    return [silence(before), digits(pressed), silence(after)]


TALK = [tone(500.0, 5.0)]  # what a caller says to the employee before hanging up

PLANS = {
    "auth_right": Plan(NUMBERS["auth"], "74950000101", keys("2468#")),
    "auth_wrong": Plan(NUMBERS["auth"], "74950000102", keys("13#")),
    "menu_silent": Plan(NUMBERS["menu"], "74950000201", [silence(8.0)]),
    "menu_star": Plan(NUMBERS["menu"], "74950000202", keys("*")),
    # 1 (the interval tells it from an extension) → inserted submenu → # → menu → 102
    "menu_back_to_102": Plan(
        NUMBERS["menu"],
        "74950000203",
        [silence(0.6), digits("1"), silence(3.2), digits("#"), silence(1.0), digits("102"), *TALK],
        hangs_up=True,
    ),
    "insert_continues": Plan(
        NUMBERS["menu"], "74950000204", [silence(0.6), digits("1"), silence(3.2), *keys("3")]
    ),
    "ext_103": Plan(NUMBERS["ext"], "74950000301", [*keys("103#")[:2], *TALK], hangs_up=True),
    "ext_999": Plan(NUMBERS["ext"], "74950000302", keys("999#")),
    "pm_client": Plan(NUMBERS["pm"], PM_CLIENT, [silence(0.5), *TALK], hangs_up=True),
    "pm_stranger": Plan(NUMBERS["pm"], "74950000402", [silence(6.0)]),
    "crm_code": Plan(NUMBERS["ivx"], "74950000501", keys("42")),
    "crm_slow": Plan(NUMBERS["ivx"], SLOW, keys("42")),
    "region_moscow": Plan(NUMBERS["region"], "74951230001", [silence(6.0)]),
    "region_spb": Plan(NUMBERS["region"], "78121230001", [silence(6.0)]),
    "segment_vip": Plan(NUMBERS["segment"], VIP, [silence(6.0)]),
    "segment_none": Plan(NUMBERS["segment"], "74950000801", [silence(6.0)]),
    "segment_others": Plan(NUMBERS["segment"], "78125550002", [silence(6.0)]),
    "rule_list": Plan(NUMBERS["rules"], LISTED, [silence(6.0)]),
    "rule_schedule": Plan(NUMBERS["rules"], "74950000902", [silence(6.0)]),
    "visit_first": Plan(NUMBERS["visit"], "74950000601", [silence(6.0)]),
}
REPEAT_VISIT = Plan(NUMBERS["visit"], "74950000601", [silence(6.0)])


@dataclass
class Live:
    pbx: RunningPbx
    crm: Crm
    phones: list[BaresipPhone]
    calls: dict[str, Heard]


def caller_for(pbx: RunningPbx, workdir: Path, name: str, plan: Plan) -> Caller:
    return Caller(
        workdir / name,
        pbx,
        plan.number,
        plan.caller,
        plan.segments,
        hangs_up=plan.hangs_up,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("operations")
    crm = Crm().start()
    phones: list[BaresipPhone] = []
    settings = {"http_allow_networks": "127.0.0.1/32"}
    try:
        with running_pbx(
            workdir, employees=3, customize=configure(workdir, crm), settings=settings
        ) as pbx:
            start_phones(pbx, workdir, PHONE_HZ, phones)
            callers = {name: caller_for(pbx, workdir, name, plan) for name, plan in PLANS.items()}
            results = dict(zip(callers, run_together(callers.values()), strict=True))
            calls: dict[str, Heard] = {}
            for name, plan in PLANS.items():
                row, steps = row_and_steps(pbx, called=plan.number, caller=plan.caller)
                calls[name] = Heard(results[name], row, steps, EVERY_TONE)
            # the second visit of the same caller, once the first is in the report
            (again,) = run_together([caller_for(pbx, workdir, "visit_repeat", REPEAT_VISIT)])
            rows = finished_rows(pbx, 2, called=REPEAT_VISIT.number, caller=REPEAT_VISIT.caller)
            calls["visit_repeat"] = Heard(again, rows[-1], details(pbx, rows[-1]["id"]), EVERY_TONE)
            yield Live(pbx, crm, phones, calls)
    finally:
        stop_phones(phones)
        crm.stop()


def assert_heard(call: Heard, *expected: float) -> None:
    heard = call.tones - {BEEP_HZ}
    assert heard == set(expected), call.why()


# -- SCN-AUTH -----------------------------------------------------------------------------------


def test_authorization_code_by_rfc4733_keys_right_goes_on_and_wrong_takes_its_exit(
    live: Live,
) -> None:
    right, wrong = live.calls["auth_right"], live.calls["auth_wrong"]
    assert_heard(right, MARKERS["auth_yes"])
    assert_heard(wrong, MARKERS["auth_no"])
    assert any("код верный" in t for t in texts(right.steps, "auth")), right.why()
    assert any("код неверный" in t for t in texts(wrong.steps, "auth")), wrong.why()
    assert [s["data"]["ok"] for s in right.steps if s["kind"] == "auth"] == [True]
    assert [s["data"]["ok"] for s in wrong.steps if s["kind"] == "auth"] == [False]
    digits_right = [s["data"]["digit"] for s in right.steps if s["kind"] == "digit"]
    assert digits_right == list("2468#"), right.why()
    for call in (right, wrong):
        assert call.row["status"] == "missed", call.why()
        assert kinds(call.steps)[-1] == "hangup", call.why()


# -- SCN-MENU -------------------------------------------------------------------------------------


def test_menu_without_a_key_takes_its_timeout_exit_and_a_key_without_exit_the_invalid_one(
    live: Live,
) -> None:
    silent, star = live.calls["menu_silent"], live.calls["menu_star"]
    assert_heard(silent, MARKERS["timeout"])
    assert_heard(star, MARKERS["invalid"])
    assert any("время ожидания истекло" in t for t in texts(silent.steps, "menu")), silent.why()
    assert "digit" not in kinds(silent.steps), silent.why()
    assert any("на клавише * нет выхода" in t for t in texts(star.steps, "menu")), star.why()
    assert any(s["data"].get("exit") == "invalid" for s in star.steps), star.why()


def test_menu_key_inserts_a_scenario_hash_returns_to_the_menu_and_an_extension_is_dialled(
    live: Live,
) -> None:
    """SCN-INS + SCN-MENU: 1 runs the inserted scenario's menu, `#` there returns to the menu
    of the calling scenario, and 102 typed in the menu rings employee 2, who talks."""
    call = live.calls["menu_back_to_102"]
    assert_heard(call, PHONE_HZ[1])
    employee_2 = live.pbx.lines[1].employee_id
    assert call.row["status"] == "answered", call.why()
    assert call.row["employee_id"] == employee_2, call.why()
    assert [s["data"].get("digit") for s in call.steps if s["kind"] == "digit"] == list("1#102")
    found = kinds(call.steps)
    assert "insert" in found, call.why()
    assert any("возврат в предыдущее меню" in t for t in texts(call.steps, "menu")), call.why()
    assert any("внутренний номер 102" in t for t in texts(call.steps, "menu")), call.why()
    assert any(s["data"].get("target") == "employee" for s in call.steps), call.why()
    # the order: inserted scenario, back to the menu, then the extension
    order = [s["kind"] for s in call.steps if s["kind"] in ("insert", "menu", "extension")]
    assert order.index("insert") < order.index("extension"), call.why()
    answered = [s["data"]["employee_id"] for s in call.steps if s["kind"] == "answered"]
    assert answered == [employee_2], call.why()


def test_inserted_scenario_goes_on_with_its_own_operations(live: Live) -> None:
    call = live.calls["insert_continues"]
    assert_heard(call, MARKERS["sub"])
    assert any("вставка сценария 'Подменю'" in t for t in texts(call.steps, "insert")), call.why()
    scenario_ids = [s["data"]["scenario_id"] for s in call.steps if s["kind"] == "scenario"]
    assert len(scenario_ids) == 2, call.why()
    assert scenario_ids[0] != scenario_ids[1], call.why()


# -- SCN-EXT --------------------------------------------------------------------------------


def test_extension_input_rings_that_employee_and_an_unknown_one_takes_its_exit(
    live: Live,
) -> None:
    good, bad = live.calls["ext_103"], live.calls["ext_999"]
    assert_heard(good, PHONE_HZ[2])
    employee_3 = live.pbx.lines[2].employee_id
    assert good.row["status"] == "answered", good.why()
    assert good.row["employee_id"] == employee_3, good.why()
    assert any("внутренний номер 103" in t for t in texts(good.steps, "extension")), good.why()
    assert_heard(bad, MARKERS["ext_bad"])
    assert any("999 не найден" in t for t in texts(bad.steps, "extension")), bad.why()
    assert bad.row["employee_id"] is None, bad.why()


# -- SCN-PM --------------------------------------------------------------------------------


def test_personal_manager_of_the_callers_contact_is_rung_others_take_forwarding_failed(
    live: Live,
) -> None:
    client, stranger = live.calls["pm_client"], live.calls["pm_stranger"]
    manager = live.pbx.lines[0].employee_id
    assert_heard(client, PHONE_HZ[0])
    assert client.row["status"] == "answered", client.why()
    assert client.row["employee_id"] == manager, client.why()
    assert client.row["contact_name"] == "Клиентов", client.why()
    assert any("персональный менеджер" in t for t in texts(client.steps, "dial")), client.why()
    assert_heard(stranger, MARKERS["pm_failed"])
    assert any("нет персонального менеджера" in t for t in texts(stranger.steps, "manager"))
    assert stranger.row["employee_id"] is None, stranger.why()


# -- SCN-IVX --------------------------------------------------------------------------------


def test_interactive_processing_asks_a_real_crm_and_follows_its_code_or_the_fallback(
    live: Live,
) -> None:
    coded, slow = live.calls["crm_code"], live.calls["crm_slow"]
    assert_heard(coded, MARKERS["crm_code"])
    assert any("код возврата 5" in t for t in texts(coded.steps, "ivx")), coded.why()
    # what the CRM was asked (IVX-1): the keys, both numbers, the call and its start
    asked = [r for r in live.crm.requests if r.get("numa") == "74950000501"]
    assert len(asked) == 1, live.crm.requests
    request = asked[0]
    assert request["input_result"] == "42"
    assert request["numb"] == NUMBERS["ivx"]
    assert request["cdr_id"], request
    assert request["start_time"].isdigit(), request
    # IVX-3: the CRM that answers too late → the fallback exit, said in the details
    assert_heard(slow, MARKERS["crm_fallback"])
    assert [r["numa"] for r in live.crm.requests].count(SLOW) == 1
    failed = texts(slow.steps, "ivx")
    assert any("запасной выход" in t and "1.5" in t for t in failed), slow.why()


# -- SCN-VISIT, SCN-REGION, SCN-SEGMENT ---------------------------------------------------------


def test_visit_distribution_first_call_then_repeat_call(live: Live) -> None:
    first, again = live.calls["visit_first"], live.calls["visit_repeat"]
    assert_heard(first, MARKERS["first"])
    assert_heard(again, MARKERS["repeat"])
    assert any("первичное обращение" in t for t in texts(first.steps, "visit")), first.why()
    assert any("повторное обращение: 1" in t for t in texts(again.steps, "visit")), again.why()


def test_region_distribution_by_the_callers_number(live: Live) -> None:
    moscow, spb = live.calls["region_moscow"], live.calls["region_spb"]
    assert_heard(moscow, MARKERS["moscow"])
    assert_heard(spb, MARKERS["spb"])
    assert [s["data"]["region"] for s in moscow.steps if s["kind"] == "region"] == ["Москва"]
    assert [s["data"]["region"] for s in spb.steps if s["kind"] == "region"] == ["Санкт-Петербург"]


def test_segment_distribution_branch_no_segment_and_others(live: Live) -> None:
    vip = live.calls["segment_vip"]
    none = live.calls["segment_none"]
    others = live.calls["segment_others"]
    assert_heard(vip, MARKERS["seg_vip"])
    assert_heard(none, MARKERS["seg_none"])
    assert_heard(others, MARKERS["seg_others"])
    assert any("сегмент 'VIP'" in t for t in texts(vip.steps, "segment")), vip.why()
    assert any("ни в один сегмент" in t for t in texts(none.steps, "segment")), none.why()
    assert any("'Питер'" in t for t in texts(others.steps, "segment")), others.why()


# -- NUM-2 --------------------------------------------------------------------------------


def test_number_rules_by_schedule_and_by_caller_list_first_match_wins(live: Live) -> None:
    listed, other = live.calls["rule_list"], live.calls["rule_schedule"]
    assert_heard(listed, MARKERS["rule_list"])
    assert_heard(other, MARKERS["rule_always"])
    for call in (listed, other):
        skipped = texts(call.steps, "rule_skipped")
        assert any("вне графика 'Закрыто'" in t for t in skipped), call.why()
    assert [s["data"]["rule"] for s in listed.steps if s["kind"] == "rule"] == [2]
    assert [s["data"]["rule"] for s in other.steps if s["kind"] == "rule"] == [3]
    assert any("номера нет в списке" in t for t in texts(other.steps, "rule_skipped"))
    assert any("график 'Всегда'" in t for t in texts(other.steps, "rule")), other.why()
