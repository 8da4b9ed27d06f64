"""IVX-2/IVX-3: what a CRM's answer to interactive processing tells the engine to do. Pure.

Accepted JSON objects (keys may combine):

* ``{"returned_code": N}`` — follow the operation's branch for code N;
* ``{"phones": [...], "message_name": file | "text": tts}`` — play the message, then forward;
* ``{"message_name": file}`` or ``{"text": tts}`` — message only;
* ``{"phones": [...]}`` — forward only;
* ``operator_media`` (a file) / ``operator_text`` (TTS) — played to the employee; media wins.

Aliases: ``massage_name`` = ``message_name``, ``operator_massage`` and ``operator_message`` =
``operator_media`` (the manual's own examples are spelled so). Anything else is a failure with
a reason in Russian: no response, non-200, not JSON, not an object, nothing to do, bad phones,
unknown file — the caller takes the fallback exit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from vpbx.scenario.snapshot import digits_of

__all__ = ["IvxFailure", "IvxInstruction", "parse_ivx"]


@dataclass(frozen=True, slots=True)
class IvxInstruction:
    returned_code: int | None = None
    phones: tuple[str, ...] = ()
    message_file_id: int | None = None
    message_name: str | None = None
    text: str = ""
    operator_file_id: int | None = None
    operator_text: str = ""


@dataclass(frozen=True, slots=True)
class IvxFailure:
    reason: str


def _first(body: Mapping[str, object], *names: str) -> object | None:
    for name in names:
        if body.get(name) not in (None, ""):
            return body[name]
    return None


def parse_ivx(
    status: int | None, text: str, error: str | None, files_by_name: Mapping[str, int]
) -> IvxInstruction | IvxFailure:
    if error is not None or status is None:
        return IvxFailure(f"нет ответа CRM: {error or 'unknown error'}")
    if status != 200:
        return IvxFailure(f"CRM ответила статусом {status}")
    try:
        body = json.loads(text)
    except ValueError:
        return IvxFailure("ответ CRM — не JSON")
    if not isinstance(body, dict):
        return IvxFailure("ответ CRM — не JSON-объект")
    code = body.get("returned_code")
    if code is not None:
        if isinstance(code, bool) or not isinstance(code, int | str):
            return IvxFailure(f"returned_code {code!r} — не число")
        try:
            return IvxInstruction(returned_code=int(code))
        except ValueError:
            return IvxFailure(f"returned_code {code!r} — не число")
    phones_raw = body.get("phones")
    phones: tuple[str, ...] = ()
    if phones_raw is not None:
        if not isinstance(phones_raw, list) or not all(isinstance(p, str) for p in phones_raw):
            return IvxFailure("phones должен быть списком строк")
        phones = tuple(digits_of(p) for p in phones_raw)
        if any(len(p) < 3 or len(p) > 15 for p in phones):
            return IvxFailure(f"неверный номер в phones: {phones_raw!r}")
    message = _first(body, "message_name", "massage_name")
    message_id: int | None = None
    if message is not None:
        if not isinstance(message, str) or message not in files_by_name:
            return IvxFailure(f"файла {message!r} нет в базе файлов")
        message_id = files_by_name[message]
    text_value = body.get("text")
    if text_value is not None and not isinstance(text_value, str):
        return IvxFailure("text должен быть строкой")
    operator = _first(body, "operator_media", "operator_massage", "operator_message")
    operator_id: int | None = None
    if operator is not None:
        if not isinstance(operator, str) or operator not in files_by_name:
            return IvxFailure(f"файла {operator!r} нет в базе файлов")
        operator_id = files_by_name[operator]
    operator_text = body.get("operator_text")
    if operator_text is not None and not isinstance(operator_text, str):
        return IvxFailure("operator_text должен быть строкой")
    if not phones and message_id is None and not text_value:
        return IvxFailure("в ответе CRM нет инструкции")
    return IvxInstruction(
        phones=phones,
        message_file_id=message_id,
        message_name=message if isinstance(message, str) else None,
        text=text_value or "",
        operator_file_id=operator_id,
        operator_text="" if operator_id is not None else (operator_text or ""),
    )
