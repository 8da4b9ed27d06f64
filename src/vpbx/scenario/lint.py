"""The lost-call linter (SCN-LINT): every path of a scenario that can lose a call. Pure.

Explores every exit of every operation reachable from the entry (keys, timeouts, HTTP failures,
CRM return codes, regions, segments, inserted scenarios) and reports, once per operation and
exit, each path that ends without an answer, a voicemail or a deliberate hang-up; besides that
unreachable operations, missing files/groups/employees/segments, insertion cycles and loops that
never wait for the caller. `lint_number` checks the rules of a virtual number (a schedule or
caller outcome that no rule covers ends in `no_route`).

Each warning has a stable `code`; the cases the manual marks «чтобы не потерять звонок» are
`menu_no_timeout`, `menu_no_invalid`, `forward_no_fallback`, `extension_no_failed`,
`extension_no_invalid`, `manager_no_failed`, `region_no_others`, `segment_no_segment`,
`segment_no_others` and `ivx_no_fallback`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vpbx.domain.entities.routing import CallerScope, VirtualNumber
from vpbx.domain.entities.scenarios import (
    AnyOperation,
    Authorization,
    ExtensionForward,
    Forward,
    InfoMessage,
    InsertScenario,
    Interactive,
    Menu,
    PersonalManager,
    RegionDistribution,
    Scenario,
    SegmentDistribution,
    VisitDistribution,
    Voicemail,
)
from vpbx.scenario.snapshot import ConfigSnapshot

__all__ = ["LintWarning", "lint_account", "lint_number", "lint_scenario"]

_KEEP = "чтобы не потерять звонок"


@dataclass(frozen=True, slots=True)
class LintWarning:
    code: str
    message: str
    scenario_id: int | None = None
    operation: str | None = None
    path: tuple[str, ...] = ()
    severity: str = "warning"

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "scenario_id": self.scenario_id,
            "operation": self.operation,
            "path": list(self.path),
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class _Exit:
    name: str
    label: str
    target: str | None
    #: code when unlinked (None: ending there is fine), or "" for a generic lost exit
    lost_code: str | None
    severity: str = "warning"


def _exits(op: AnyOperation, scenario: Scenario) -> Iterator[_Exit]:
    e = op.exits
    match op:
        case Authorization():
            yield _Exit("yes", "yes", e.get("yes"), "auth_unlinked")
            yield _Exit("no", "no", e.get("no"), "auth_unlinked")
        case Voicemail():
            yield _Exit("next", "next", e.get("next"), None)
        case InfoMessage():
            yield _Exit("next", "next", e.get("next"), "ends_after_message", "info")
        case Menu():
            for key in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"):
                if e.get(key) is not None:
                    yield _Exit(key, f"клавиша {key}", e[key], None)
            yield _Exit("timeout", "время ожидания истекло", e.get("timeout"), "menu_no_timeout")
            yield _Exit("invalid", "некорректный ввод", e.get("invalid"), "menu_no_invalid")
            if e.get("extension_input") is not None:
                yield _Exit(
                    "extension_input", "ввод внутреннего номера", e["extension_input"], None
                )
        case Forward():
            yield _Exit(
                "no_answer", "после переадресации", e.get("no_answer"), "forward_no_fallback"
            )
        case ExtensionForward():
            yield _Exit(
                "failed", "переадресация не удалась", e.get("failed"), "extension_no_failed"
            )
            # the Menu's variant goes back to the menu by default (input_timeout)
            code = None if op.from_menu else "extension_no_invalid"
            yield _Exit("invalid", "номер введен неверно", e.get("invalid"), code)
        case PersonalManager():
            yield _Exit("failed", "переадресация не удалась", e.get("failed"), "manager_no_failed")
        case Interactive():
            for b in op.codes:
                yield _Exit(f"code {b.code}", f"код {b.code}", b.target, "ivx_code_unlinked")
            yield _Exit("fallback", "запасной выход", e.get("fallback"), "ivx_no_fallback")
        case VisitDistribution():
            yield _Exit("first", "первичное", e.get("first"), "visit_unlinked")
            yield _Exit("repeat", "повторное", e.get("repeat"), "visit_unlinked")
        case RegionDistribution():
            for rb in op.branches:
                yield _Exit(rb.region, rb.region, rb.target, "region_branch_unlinked")
            yield _Exit("others", "остальные", e.get("others"), "region_no_others")
        case SegmentDistribution():
            for sb in op.branches:
                label = f"сегмент #{sb.segment_id}"
                yield _Exit(label, label, sb.target, "segment_branch_unlinked")
            yield _Exit("no_segment", "без сегмента", e.get("no_segment"), "segment_no_segment")
            yield _Exit("others", "остальные", e.get("others"), "segment_no_others")
        case InsertScenario():
            return


_MESSAGES = {
    "menu_no_timeout": f"меню без выхода «время ожидания истекло»: {_KEEP}, если звонящий "
    "ничего не нажал, настройте его",
    "menu_no_invalid": f"меню без выхода «некорректный ввод»: {_KEEP} при нажатии "
    "ненастроенной клавиши, настройте его",
    "forward_no_fallback": "переадресация без операции на случай, если никто не ответил "
    "(например, голосовая почта): звонок будет потерян",
    "extension_no_failed": f"выход «Переадресация не удалась» не настроен: {_KEEP}, "
    "настройте переадресацию на контрольную группу операторов",
    "extension_no_invalid": f"выход «Номер введен неверно» не настроен: {_KEEP}, "
    "настройте переадресацию на контрольную группу операторов",
    "manager_no_failed": f"выход «Переадресация не удалась» не настроен: {_KEEP}, когда "
    "у звонящего нет персонального менеджера или он недоступен, настройте его",
    "region_no_others": "не задана операция для звонящих из «остальных» регионов: часть "
    "звонков будет потеряна",
    "segment_no_segment": "не задана операция для звонящих «без сегмента»: звонки будут потеряны",
    "segment_no_others": "не задана операция для «остальных» сегментов: звонки будут потеряны",
    "ivx_no_fallback": "нет запасного выхода на случай, если внешняя система не ответит "
    "(таймаут, ошибка, неверный ответ): звонок будет потерян",
    "ivx_code_unlinked": "код возврата без связанной операции: звонок будет потерян",
    "auth_unlinked": "выход авторизации не настроен: звонок будет потерян",
    "visit_unlinked": "выход распределения по номеру обращения не настроен: звонок будет потерян",
    "region_branch_unlinked": "регион без операции: звонок будет потерян",
    "segment_branch_unlinked": "сегмент без операции: звонок будет потерян",
    "ends_after_message": "после сообщения звонок завершается: проверьте, что так задумано",
}

#: operations that never wait for the caller: a cycle made only of them never ends
_NO_INPUT = (InfoMessage, VisitDistribution, RegionDistribution, SegmentDistribution)


def _files(op: AnyOperation) -> list[int]:
    found: list[int] = []
    for name in ("prompt_file_id", "queue_message_file_id", "operator_message_file_id"):
        value = getattr(op, name, None)
        if isinstance(value, int):
            found.append(value)
    for name in ("file_ids", "ringback_file_ids"):
        found += list(getattr(op, name, []) or [])
    return found


def lint_scenario(
    scenario: Scenario,
    config: ConfigSnapshot | None = None,
    scenario_id: int | None = None,
    _stack: tuple[int | None, ...] = (),
) -> list[LintWarning]:
    """Every warning of one scenario (and, with `config`, of the scenarios it inserts)."""
    out: list[LintWarning] = []
    sid = scenario_id
    stack = (*_stack, sid)

    def warn(
        code: str, message: str, op: str | None, path: tuple[str, ...] = (), sev: str = "warning"
    ) -> None:
        out.append(LintWarning(code, message, sid, op, path, sev))

    if scenario.entry is None or scenario.operation(scenario.entry) is None:
        warn(
            "empty_scenario", "в сценарии нет начальной операции: каждый звонок будет потерян", None
        )
        return out
    by_key = {op.key: op for op in scenario.operations}
    paths: dict[str, tuple[str, ...]] = {scenario.entry: (scenario.entry,)}
    order = [scenario.entry]
    edges: dict[str, list[str]] = {}
    i = 0
    while i < len(order):
        key = order[i]
        i += 1
        op = by_key[key]
        path = paths[key]
        edges[key] = []
        for ex in _exits(op, scenario):
            if ex.target is None:
                if ex.lost_code is not None:
                    msg = f"операция '{op.title or op.key}': " + _MESSAGES[ex.lost_code]
                    warn(ex.lost_code, msg, op.key, (*path, ex.label), ex.severity)
                continue
            if ex.target not in by_key:
                warn(
                    "dangling_exit",
                    f"выход '{ex.label}' ведет на несуществующую операцию '{ex.target}'",
                    op.key,
                    (*path, ex.label),
                )
                continue
            edges[key].append(ex.target)
            if ex.target not in paths:
                paths[ex.target] = (*path, ex.label, ex.target)
                order.append(ex.target)
        if isinstance(op, Voicemail) and not op.emails:
            warn(
                "voicemail_no_email",
                f"операция '{op.title or op.key}': не задан e-mail — сообщения никто не получит",
                op.key,
                path,
                "info",  # the message is kept in the file base; nobody is told
            )
        if config is not None:
            for fid in _files(op):
                if fid not in config.files:
                    warn(
                        "missing_file",
                        f"операция '{op.title or op.key}': файла #{fid} нет в базе файлов",
                        op.key,
                        path,
                    )
            if isinstance(op, Forward):
                for t in op.targets:
                    if t.group_id is not None and t.group_id not in config.groups:
                        warn("missing_target", f"группы #{t.group_id} нет", op.key, path)
                    if t.employee_id is not None and t.employee_id not in config.employees:
                        warn("missing_target", f"сотрудника #{t.employee_id} нет", op.key, path)
            if isinstance(op, SegmentDistribution):
                for sb in op.branches:
                    if sb.segment_id not in config.segments:
                        warn("missing_segment", f"сегмента #{sb.segment_id} нет", op.key, path)
            if isinstance(op, InsertScenario):
                if op.scenario_id in stack:
                    names = " → ".join(
                        f"#{s}" if s is not None else "этот" for s in (*stack, op.scenario_id)
                    )
                    warn("insert_cycle", f"цикл вставки сценариев: {names}", op.key, path)
                elif op.scenario_id not in config.scenarios:
                    warn(
                        "missing_scenario",
                        f"вставляемого сценария #{op.scenario_id} нет",
                        op.key,
                        path,
                    )
                else:
                    inner = lint_scenario(
                        config.scenarios[op.scenario_id], config, op.scenario_id, stack
                    )
                    out.extend(
                        LintWarning(
                            w.code,
                            w.message,
                            w.scenario_id,
                            w.operation,
                            (*path, *w.path),
                            w.severity,
                        )
                        for w in inner
                    )
    for op in scenario.operations:
        if op.key not in paths:
            warn(
                "unreachable",
                f"операция '{op.title or op.key}' недостижима из начала сценария",
                op.key,
                (),
                "info",
            )
    out.extend(_endless_loops(scenario, edges, sid))
    return out


def _endless_loops(
    scenario: Scenario, edges: dict[str, list[str]], sid: int | None
) -> list[LintWarning]:
    quiet = {op.key for op in scenario.operations if isinstance(op, _NO_INPUT)}
    found: list[LintWarning] = []
    reported: set[frozenset[str]] = set()
    for start in sorted(quiet & set(edges)):
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, []):
                if nxt not in quiet:
                    continue
                if nxt == start:
                    cycle = frozenset(path)
                    if cycle not in reported:
                        reported.add(cycle)
                        found.append(
                            LintWarning(
                                "endless_loop",
                                "цикл операций, которые не ждут звонящего: "
                                + " → ".join((*path, start)),
                                sid,
                                start,
                                (*path, start),
                            )
                        )
                elif nxt not in path:
                    stack.append((nxt, (*path, nxt)))
    return found


def lint_number(
    number: VirtualNumber, config: ConfigSnapshot, number_id: int | None = None
) -> list[LintWarning]:
    """Rules of a virtual number: outcomes no rule covers, rules that can never match."""
    out: list[LintWarning] = []
    label = f"номер {number.number}"
    covered = False
    for position, rule in enumerate(number.rules, start=1):
        if not rule.enabled:
            continue
        if covered:
            out.append(
                LintWarning(
                    "unreachable_rule",
                    f"{label}: правило {position} никогда не "
                    "сработает — выше есть правило для всех звонков",
                    None,
                    None,
                    (f"правило {position}",),
                    "info",
                )
            )
        if rule.scenario_id not in config.scenarios:
            out.append(
                LintWarning(
                    "missing_scenario",
                    f"{label}: правило {position} ссылается "
                    f"на несуществующий сценарий #{rule.scenario_id}",
                    None,
                    None,
                    (f"правило {position}",),
                )
            )
        if rule.schedule_id is None and rule.callers.scope is CallerScope.ALL:
            covered = True
    if number.kind.value == "pbx" and not covered:
        out.append(
            LintWarning(
                "no_rule_fallback",
                f"{label}: нет правила без графика для всех "
                "номеров — звонки вне графиков или от других абонентов услышат "
                "«нет подходящего правила» и будут завершены",
                None,
                None,
                ("правила",),
            )
        )
    return out


def lint_account(config: ConfigSnapshot) -> list[LintWarning]:
    found: list[LintWarning] = []
    for sid, scenario in sorted(config.scenarios.items()):
        found += lint_scenario(scenario, config, sid)
    for nid, number in sorted(config.numbers.values(), key=lambda p: p[0]):
        found += lint_number(number, config, nid)
    return found
