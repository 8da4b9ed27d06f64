"""TRN-1 from the live view, the call core's side on a fake clock: a supervisor asked for while
the caller talks to the employee is rung (`CallSupervisor` with his mode) and the call's details
say who was rung, how he joined, his keys and his leaving; asked for with no talk, or while
another is being rung, he is not (and the details say why)."""

from __future__ import annotations

import dataclasses

from tests.scenario.test_call_logic import Switch, of
from tests.scenario.test_transfer_logic import office, talking
from vpbx.domain.entities.routing import TalkAction, TalkOption
from vpbx.scenario import call_io as io

BOSS = 7


def supervisor_steps(switch: Switch) -> list[tuple[str, dict[str, object]]]:
    return [(s.text, s.data) for s in switch.logic.details if s.kind == "supervisor"]


def test_a_supervisor_is_rung_in_his_mode_and_the_details_follow_him_in_and_out() -> None:
    switch, _ = talking()
    out = switch.send(io.SuperviseAsked(BOSS, "Надзорова Анна", "whisper"))
    assert out == [io.CallSupervisor(BOSS, "whisper")]
    assert switch.logic.supervisor == (BOSS, "Надзорова Анна")
    assert switch.logic.supervise_mode is None  # not in the talk before his phone answers
    # one at a time: a second supervisor asked for meanwhile is not rung
    assert switch.send(io.SuperviseAsked(8, "Второй", "barge")) == []
    assert switch.send(io.TrainerJoined("whisper")) == []
    assert switch.logic.supervise_mode == "whisper"
    assert switch.send(io.TrainerDigit("3")) == [io.TrainerMode("barge")]
    assert switch.logic.supervise_mode == "barge"
    assert switch.send(io.TrainerLeft(joined=True)) == []
    assert (switch.logic.supervisor, switch.logic.supervise_mode) == (None, None)
    assert supervisor_steps(switch) == [
        (
            "супервизор Надзорова Анна вызван из просмотра звонков: подсказывает (его слышит "
            "только сотрудник)",
            {"employee_id": BOSS, "mode": "whisper"},
        ),
        (
            "супервизор Второй не вызван: уже подключается супервизор Надзорова Анна",
            {"employee_id": 8},
        ),
        (
            "супервизор Надзорова Анна подключился: подсказывает (его слышит только сотрудник)",
            {"employee_id": BOSS, "mode": "whisper"},
        ),
        (
            "супервизор Надзорова Анна: вмешался (его слышат все)",
            {"employee_id": BOSS, "mode": "barge"},
        ),
        ("супервизор Надзорова Анна положил трубку, разговор идёт без него", {"employee_id": BOSS}),
    ]
    # he may be asked for again once he left
    assert switch.send(io.SuperviseAsked(BOSS, "Надзорова Анна", "listen")) == [
        io.CallSupervisor(BOSS, "listen")
    ]


def test_a_supervisor_whose_phones_do_not_answer_frees_the_call_for_another() -> None:
    switch, _ = talking()
    assert of(io.CallSupervisor, switch.send(io.SuperviseAsked(BOSS, "Надзорова", "listen")))
    switch.send(io.TrainerLeft(joined=False))
    assert supervisor_steps(switch)[-1][0] == "супервизор Надзорова не ответил"
    assert switch.send(io.SuperviseAsked(8, "Второй", "barge")) == [io.CallSupervisor(8, "barge")]


def test_no_supervisor_is_rung_before_the_talk_or_after_it() -> None:
    switch = Switch(office())
    switch.start()  # the employee's phone rings: nobody talks with the caller yet
    assert switch.send(io.SuperviseAsked(BOSS, "Надзорова", "whisper")) == []
    assert supervisor_steps(switch) == [
        ("супервизор Надзорова не вызван: разговора сейчас нет", {"employee_id": BOSS})
    ]
    talked, _ = talking()
    talked.send(io.CallerHungUp())
    assert talked.send(io.SuperviseAsked(BOSS, "Надзорова", "whisper")) == []


def test_the_employees_own_trainer_is_named_a_trainer() -> None:
    switch, _ = talking()
    switch.send(io.TrainerJoined("whisper"))
    switch.send(io.TrainerDigit("1"))
    trainer = [s.text for s in switch.logic.details if s.kind == "trainer"]
    assert trainer == [
        "тренер подключился: подсказывает (его слышит только сотрудник)",
        "тренер: слушает (его не слышит никто)",
    ]
    assert switch.logic.supervisor is None


def test_the_employees_trainer_key_waits_while_a_supervisor_joins() -> None:
    """One third party at a time: the call-trainer talk option is refused (a sad tone) while a
    supervisor is rung or in the talk."""
    switch, _ = talking(
        office(TalkOption(key="5", action=TalkAction.CALL_TRAINER)),
    )
    switch.logic.config.employees[1] = dataclasses.replace(
        switch.logic.config.employees[1], trainer_id=BOSS
    )
    switch.send(io.SuperviseAsked(8, "Надзорова", "listen"))
    assert switch.send(io.EmployeeDigit("5")) == [io.ToneToEmployee(ok=False)]
    assert "подключается супервизор Надзорова" in switch.logic.details[-1].text
    switch.send(io.TrainerLeft(joined=False))
    assert of(io.CallTrainer, switch.send(io.EmployeeDigit("5"))) == [io.CallTrainer(1)]
