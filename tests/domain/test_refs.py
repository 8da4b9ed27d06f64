"""References: iter_refs finds every Ref-marked id with its path; map_refs rewrites or drops it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from vpbx.domain.entities.addressbook import Contact, Segment
from vpbx.domain.entities.callback import CallbackRule
from vpbx.domain.entities.people import Employee, Group
from vpbx.domain.entities.routing import CidRule, VirtualNumber
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.refs import FoundRef, Ref, iter_refs, map_refs


def found(model: BaseModel) -> list[tuple[str, str, bool, int]]:
    return [(r.path, r.ref.kind, r.ref.weak, r.target_id) for r in iter_refs(model)]


def employee(**more: Any) -> Employee:
    data: dict[str, Any] = {"last_name": "Иванов", "phones": [{"kind": "sip"}]}
    return Employee.model_validate(data | more)


def group(member_ids: list[int], rows: list[tuple[int, str, float]], **more: Any) -> Group:
    distribution = [{"employee_id": e, "phone_id": p, "percent": pc} for e, p, pc in rows]
    return Group.model_validate(
        {"name": "Продажи", "member_ids": member_ids, "distribution": distribution} | more
    )


SCENARIO = Scenario.model_validate(
    {
        "name": "Вход",
        "entry": "menu",
        "operations": [
            {"key": "menu", "kind": "menu", "prompt_file_id": 7, "exits": {"1": "fwd"}},
            {
                "key": "fwd",
                "kind": "forward",
                "ringback_file_ids": [8, 9],
                "targets": [
                    {"group_id": 3},
                    {"employee_id": 4, "phone_id": "a1"},
                    {"number": "74951234567"},
                ],
            },
            {"key": "ins", "kind": "insert", "scenario_id": 12},
            {"key": "seg", "kind": "segment", "branches": [{"segment_id": 5, "target": "fwd"}]},
        ],
    }
)


# -- iter_refs ---------------------------------------------------------------------------------


def test_iter_refs_of_an_employee() -> None:
    doc = employee(
        group_ids=[2, 1],
        schedule_id=5,
        trainer_id=9,
        phones=[
            {"kind": "sip", "sip_line_id": 30},
            {"kind": "number", "number": "74951234567"},
            {"kind": "fmc", "fmc_line_id": 40},
        ],
    )
    assert found(doc) == [
        ("group_ids.0", "groups", True, 2),
        ("group_ids.1", "groups", True, 1),
        ("schedule_id", "schedules", False, 5),
        ("phones.0.sip_line_id", "sip-lines", False, 30),
        ("phones.2.fmc_line_id", "fmc-lines", False, 40),
        ("trainer_id", "employees", False, 9),
    ]


def test_iter_refs_skips_none_and_non_reference_ints() -> None:
    doc = employee()  # no schedule, no trainer; phones[0].lines and ring_timeout are plain ints
    assert found(doc) == []
    number = VirtualNumber.model_validate({"number": "74950000001"})
    assert found(number) == []


def test_iter_refs_walks_scenario_operations() -> None:
    assert found(SCENARIO) == [
        ("operations.0.prompt_file_id", "files", False, 7),
        ("operations.1.ringback_file_ids.0", "files", False, 8),
        ("operations.1.ringback_file_ids.1", "files", False, 9),
        ("operations.1.targets.0.group_id", "groups", False, 3),
        ("operations.1.targets.1.employee_id", "employees", False, 4),
        ("operations.2.scenario_id", "scenarios", False, 12),
        ("operations.3.branches.0.segment_id", "segments", False, 5),
    ]


def test_iter_refs_walks_nested_rules_and_weak_rows() -> None:
    number = VirtualNumber.model_validate(
        {
            "number": "74950000001",
            "trunk_id": 6,
            "rules": [
                {"scenario_id": 1},
                {
                    "schedule_id": 2,
                    "scenario_id": 3,
                    "callers": {"scope": "lists", "caller_list_ids": [4, 5]},
                },
            ],
        }
    )
    assert found(number) == [
        ("rules.0.scenario_id", "scenarios", False, 1),
        ("rules.1.schedule_id", "schedules", False, 2),
        ("rules.1.callers.caller_list_ids.0", "caller-lists", False, 4),
        ("rules.1.callers.caller_list_ids.1", "caller-lists", False, 5),
        ("rules.1.scenario_id", "scenarios", False, 3),
        ("trunk_id", "trunks", False, 6),
    ]
    doc = group([4, 5], [(4, "a", 100)], schedule_id=1)
    assert found(doc) == [
        ("member_ids.0", "employees", True, 4),
        ("member_ids.1", "employees", True, 5),
        ("schedule_id", "schedules", False, 1),
        ("distribution.0.employee_id", "employees", True, 4),
    ]


def test_iter_refs_prefix() -> None:
    refs = list(iter_refs(employee(schedule_id=1), prefix="employees.3."))
    assert refs == [FoundRef("employees.3.schedule_id", Ref("schedules"), 1)]


# -- map_refs ----------------------------------------------------------------------------------


def test_map_refs_renumbers_every_reference_and_nothing_else() -> None:
    mapped = map_refs(SCENARIO, lambda ref, i: i + 1000)
    assert [r.target_id for r in iter_refs(mapped)] == [1007, 1008, 1009, 1003, 1004, 1012, 1005]
    assert [r.path for r in iter_refs(mapped)] == [r.path for r in iter_refs(SCENARIO)]
    # Exits, keys, phone numbers and the original are untouched.
    assert mapped.operations[0].exits == {"1": "fwd"}
    assert mapped.operations[1].targets[2].number == "74951234567"  # type: ignore[union-attr]
    assert [r.target_id for r in iter_refs(SCENARIO)] == [7, 8, 9, 3, 4, 12, 5]


def test_map_refs_by_kind() -> None:
    doc = employee(group_ids=[1, 2], schedule_id=1, trainer_id=1)
    mapped = map_refs(doc, lambda ref, i: i * 10 if ref.kind == "groups" else i)
    assert mapped.group_ids == [10, 20]
    assert mapped.schedule_id == 1
    assert mapped.trainer_id == 1


def test_map_refs_identity_returns_an_equal_model() -> None:
    doc = employee(group_ids=[1, 2], schedule_id=1)
    same = map_refs(doc, lambda ref, i: i)
    assert same == doc


def test_map_refs_none_removes_list_items_and_clears_optionals() -> None:
    doc = employee(group_ids=[1, 2, 3], schedule_id=2, trainer_id=3)
    mapped = map_refs(doc, lambda ref, i: None if i == 2 else i)
    assert mapped.group_ids == [1, 3]
    assert mapped.schedule_id is None
    assert mapped.trainer_id == 3
    assert doc.group_ids == [1, 2, 3]  # a copy


def test_map_refs_none_drops_a_row_whose_required_reference_is_gone() -> None:
    doc = group([4, 5], [(4, "a", 30), (5, "b", 70), (4, "c", 0)])
    mapped = map_refs(doc, lambda ref, i: None if (ref.kind, i) == ("employees", 4) else i)
    assert mapped.member_ids == [5]
    assert [(r.employee_id, r.phone_id, r.percent) for r in mapped.distribution] == [(5, "b", 70)]
    # The result is a valid document again.
    assert Group.model_validate(mapped.model_dump()) == mapped


def test_map_refs_none_drops_an_insert_operation() -> None:
    mapped = map_refs(SCENARIO, lambda ref, i: None if ref.kind == "scenarios" else i)
    assert [op.key for op in mapped.operations] == ["menu", "fwd", "seg"]


def test_map_refs_none_for_a_required_top_level_reference_is_an_error() -> None:
    from vpbx.domain.entities.scenarios import InsertScenario

    op = InsertScenario(key="ins", scenario_id=1)
    with pytest.raises(ValueError, match="required reference"):
        map_refs(op, lambda ref, i: None)


# -- properties --------------------------------------------------------------------------------

ids = st.integers(min_value=1, max_value=12)
id_lists = st.lists(ids, max_size=6)
optional_ids = st.none() | ids
phone_ids = st.sampled_from(["a", "b", "c"])


@st.composite
def employees(draw: st.DrawFn) -> Employee:
    phones = draw(
        st.lists(
            st.one_of(
                st.builds(lambda i: {"kind": "sip", "sip_line_id": i}, optional_ids),
                st.builds(lambda i: {"kind": "fmc", "fmc_line_id": i}, ids),
                st.just({"kind": "number", "number": "74951234567"}),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return employee(
        group_ids=draw(id_lists),
        schedule_id=draw(optional_ids),
        trainer_id=draw(optional_ids),
        phones=phones,
    )


@st.composite
def groups(draw: st.DrawFn) -> Group:
    rows = draw(st.lists(st.tuples(ids, phone_ids, st.just(0.0)), max_size=6))
    return group(draw(id_lists), rows, schedule_id=draw(optional_ids))


def contacts() -> st.SearchStrategy[Contact]:
    return st.builds(
        lambda g, m: Contact(last_name="Петров", group_ids=g, manager_id=m), id_lists, optional_ids
    )


def segments() -> st.SearchStrategy[Segment]:
    return st.builds(
        lambda cg, tg: Segment.model_validate(
            {"name": "s", "conditions": {"contact_group_ids": cg, "tag_ids": tg}}
        ),
        id_lists,
        id_lists,
    )


def cid_rules() -> st.SearchStrategy[CidRule]:
    return st.builds(
        lambda n, e: CidRule(action="allow", number_ids=n, employee_ids=e), id_lists, id_lists
    )


@st.composite
def numbers(draw: st.DrawFn) -> VirtualNumber:
    rules = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "scenario_id": ids,
                    "schedule_id": optional_ids,
                    "callers": st.builds(lambda c: {"scope": "all", "contact_ids": c}, id_lists),
                }
            ),
            max_size=3,
        )
    )
    return VirtualNumber.model_validate(
        {"number": "74950000001", "rules": rules, "trunk_id": draw(optional_ids)}
    )


def callback_rules() -> st.SearchStrategy[CallbackRule]:
    return st.builds(
        lambda g, s1, s2, f: CallbackRule.model_validate(
            {
                "name": "r",
                "how": {"method": "group", "group_id": g},
                "call_schedule_id": s1,
                "rule_schedule_id": s2,
                "whisper": {"file_id": f},
            }
        ),
        ids,
        optional_ids,
        optional_ids,
        optional_ids,
    )


documents = st.one_of(
    employees(), groups(), contacts(), segments(), cid_rules(), numbers(), callback_rules()
)


@given(documents)
def test_property_identity_mapping_returns_an_equal_model(doc: BaseModel) -> None:
    same = map_refs(doc, lambda ref, i: i)
    assert same == doc
    assert same.model_dump() == doc.model_dump()


@given(documents, st.integers(min_value=1, max_value=1000))
def test_property_mapping_maps_each_found_reference(doc: BaseModel, shift: int) -> None:
    mapped = map_refs(doc, lambda ref, i: i + shift)
    before, after = list(iter_refs(doc)), list(iter_refs(mapped))
    assert [(r.path, r.ref) for r in after] == [(r.path, r.ref) for r in before]
    assert [r.target_id for r in after] == [r.target_id + shift for r in before]
    assert type(mapped).model_validate(mapped.model_dump()) == mapped


def _list_items(model: BaseModel, path: str) -> list[Any]:
    node: Any = model
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list | tuple) else getattr(node, part)
    return list(node)


@given(documents, st.sets(ids, max_size=6))
def test_property_mapping_to_none_removes_list_items(doc: BaseModel, gone: set[int]) -> None:
    mapped = map_refs(doc, lambda ref, i: None if i in gone else i)
    assert all(r.target_id not in gone for r in iter_refs(mapped))
    # Every list of plain ids (not inside a list item, which may go as a whole when its required
    # reference goes) keeps exactly its other items, in order.
    list_paths = {r.path.rsplit(".", 1)[0] for r in iter_refs(doc) if r.path[-1].isdigit()}
    for path in list_paths:
        items = _list_items(doc, path)
        nested = any(part.isdigit() for part in path.split("."))
        if not nested and all(isinstance(item, int) for item in items):
            assert _list_items(mapped, path) == [i for i in items if i not in gone]
    # References that survive are unchanged.
    kept = {r.target_id for r in iter_refs(doc) if r.target_id not in gone}
    assert {r.target_id for r in iter_refs(mapped)} <= kept


@given(numbers(), st.sets(ids, max_size=6))
def test_property_a_rule_goes_with_its_scenario(doc: VirtualNumber, gone: set[int]) -> None:
    mapped = map_refs(doc, lambda ref, i: None if ref.kind == "scenarios" and i in gone else i)
    assert mapped.rules == [r for r in doc.rules if r.scenario_id not in gone]


@given(documents, st.sets(ids, max_size=6))
def test_property_dropping_weak_references_keeps_a_valid_document(
    doc: BaseModel, gone: set[int]
) -> None:
    """What a deletion does to the holders of weak references (ACC-4 memberships)."""
    mapped = map_refs(doc, lambda ref, i: None if ref.weak and i in gone else i)
    assert [r for r in iter_refs(mapped) if not r.ref.weak] == [
        r for r in iter_refs(doc) if not r.ref.weak
    ]
    assert all(r.target_id not in gone for r in iter_refs(mapped) if r.ref.weak)
    assert type(mapped).model_validate(mapped.model_dump()) == mapped


@given(groups(), st.sets(ids, max_size=6))
def test_property_removed_members_leave_no_distribution_rows(doc: Group, gone: set[int]) -> None:
    mapped = map_refs(doc, lambda ref, i: None if i in gone else i)
    assert mapped.member_ids == [m for m in doc.member_ids if m not in gone]
    assert mapped.distribution == [r for r in doc.distribution if r.employee_id not in gone]
