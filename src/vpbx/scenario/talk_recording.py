"""REC-1: whether a talk is recorded without anybody asking, and what the details say of a
talk's recording once it is filed; shared by the calls that come in (`CallLogic`) and the calls
the PBX places (`OriginateLogic`: callbacks, CallAPI), which the account's settings record
alike. Pure."""

from __future__ import annotations

from vpbx.domain.entities.scenarios import Forward
from vpbx.scenario import actions as act
from vpbx.scenario import call_io as io
from vpbx.scenario.snapshot import ConfigSnapshot, digits_of

__all__ = ["auto_record_reason", "saved_text"]


def auto_record_reason(
    config: ConfigSnapshot, number: str, employee_id: int | None, dial: act.Dial | None
) -> str | None:
    """Why the talk is recorded (None: it is not): the account records every talk, or the
    virtual number `number`, or the employee who talks, or the Forward `dial` that rang him."""
    if config.record_calls:
        return "записываются все разговоры аккаунта"
    found = config.numbers.get(digits_of(number))
    if found is not None and found[1].record_calls:
        return f"записываются разговоры номера {number}"
    employee = config.employees.get(employee_id) if employee_id is not None else None
    if employee is not None and employee.record_calls:
        return f"записываются разговоры сотрудника {employee.name}"
    if dial is not None and dial.scenario_id is not None:
        operation = config.operations.get(dial.scenario_id, {}).get(dial.operation)
        if isinstance(operation, Forward) and operation.record:
            return f"записываются разговоры операции «{operation.title or operation.key}»"
    return None


def saved_text(event: io.TalkRecordingSaved) -> str:
    """The details' line for a talk's recording: filed (which file, how long), or not."""
    if event.file_id is not None:
        text = (
            f"разговор записан ({event.seconds:.0f} с): файл #{event.file_id} "
            "в «Записанных разговорах»"
        )
    else:
        text = "запись разговора не сохранена: ничего не записано"
    if event.error:
        text += f"; {event.error}"
    return text
