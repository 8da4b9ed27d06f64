"""The scenario engine: one `Call` per call, a pure state machine from events to actions.

    call = Call(config, call_id="42")
    actions = call.handle(CallArrived("74950000001", "79161234567"), now)
    ... call.get_timer() → when to call call.handle_timer(now) ...

Nothing here touches the network, the clock or the database: `now` is passed in with every
event, timers are pulled (`get_timer` / `handle_timer`), the configuration is an immutable
`ConfigSnapshot`. Every decision is appended to `call.details` (CDR-2) with its reason, in Russian
first. After a terminal action (`Hangup`, `Reject`) every further event is ignored.

Decisions (see also docs/decisions.md):

* The engine answers the caller when a scenario starts (so prompts can play); a blacklisted call
  is rejected without an answer (BLK-2), a call without a matching rule is answered, hears the
  system message `no_route` and is hung up (NUM-4).
* Prompts let keys barge in; the wait for a key starts when the prompt has finished.
* An unlinked exit ends the call (SCN), except the Menu's extension input «номер введен неверно»,
  whose default is `input_timeout` and back to the menu (SCN-MENU).
* `#` ends a multi-digit input early (authorization code, extension, CRM code).
* The Menu's extension input uses the menu's timeout as its inter-digit interval (the manual:
  «дублируется с … таймаут ожидания»), not the linked operation's own interval; `*` or `#` as
  the first key is a menu key, a digit waits for the interval to see whether more follow.
* `#` returns to the previous menu only when the current menu has `hash_returns` and no exit of
  its own on `#`; the previous menu is the one visited before it in this call.
* Ratings (RATE-1) follow a talk the employee ended, when the forward operation asks for them or
  the first employee who answered in this call has «оценка после разговора»; the score goes to
  the last employee who talked. Tagging after the talk is offered to that employee (`OfferTagging`):
  the forward operation only says whether to offer it, the employee picks the tag.
* A CRM message without phones is played and the call ends (the CRM decided); a CRM forward that
  nobody answers takes the `fallback` exit. A CRM phone equal to an extension of the account
  rings that employee or group, never an outside number (101-104 are emergency numbers).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vpbx.domain.entities.routing import CallerScope, NumberKind, NumberRule
from vpbx.domain.entities.scenarios import (
    AnyOperation,
    Authorization,
    ExtensionForward,
    Forward,
    ForwardTarget,
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
from vpbx.domain.regions import region_key, region_of
from vpbx.domain.schedule import is_active
from vpbx.scenario.actions import (
    Action,
    Answer,
    Bridge,
    CancelDial,
    CollectDigits,
    Dial,
    DialTarget,
    Hangup,
    HttpRequest,
    OfferTagging,
    Play,
    Record,
    Reject,
    SendMail,
    StopPlayback,
    StoreRating,
)
from vpbx.scenario.events import (
    Answered,
    CallArrived,
    CallerHungUp,
    DialFailed,
    Digit,
    Event,
    HttpResponse,
    PlaybackDone,
    RecordingDone,
    TalkEnded,
    TimerFired,
)
from vpbx.scenario.ivx import IvxFailure, parse_ivx
from vpbx.scenario.segments import caller_segments, visits_within
from vpbx.scenario.snapshot import (
    SYSTEM_LABELS,
    CallerFacts,
    ConfigSnapshot,
    digits_of,
    matches_pattern,
)

__all__ = ["Call", "CallState", "Step"]

#: operations entered without the caller doing anything, before the engine calls it a loop
MAX_HOPS = 200
MAX_INSERT_DEPTH = 20
RATING_TIMEOUT = 10.0
IVX_DTMF_INTERVAL = 5.0
DEFAULT_AUTH_PROMPT = "Введите код авторизации"
DEFAULT_EXTENSION_PROMPT = "Введите внутренний номер"


class CallState(enum.Enum):
    NEW = "new"
    PLAYING = "playing"
    COLLECTING = "collecting"
    RECORDING = "recording"
    WAITING_HTTP = "waiting_http"
    DIALING = "dialing"
    TALKING = "talking"
    RATING = "rating"
    ENDED = "ended"


@dataclass(slots=True)
class Step:
    """One line of the call details (CDR-2): shaped like `vpbx.domain.entities.misc.CallStep`.

    Not frozen only because a frozen dataclass costs five times as much to build and a call
    writes about twenty of them; the engine never changes a step once appended, nor may readers.
    """

    at: dt.datetime
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_call_step(self, leg: str = "") -> dict[str, Any]:
        return {"at": self.at, "leg": leg, "kind": self.kind, "text": self.text, "data": self.data}


Then = Callable[[dt.datetime], list[Action]]
DigitsDone = Callable[[str, dt.datetime], list[Action]]


@dataclass(slots=True)
class _Input:
    """A digit collection in progress."""

    first_timeout: float
    inter_digit: float
    max_digits: int
    terminators: str
    on_done: DigitsDone
    #: decides at a key before the input ends (menu keys); None = keep collecting
    on_key: Callable[[str, str, dt.datetime], list[Action] | None] | None = None
    digits: str = ""
    prompt_playing: bool = False


@dataclass(slots=True)
class _Dialing:
    fail_exit: str
    rate: bool = False
    tag: bool = False
    label: str = ""


class Call:
    """One call through rules and scenarios. Feed events with `handle`; pull timers."""

    def __init__(
        self,
        config: ConfigSnapshot,
        *,
        call_id: str = "",
        facts: CallerFacts | None = None,
    ) -> None:
        self.config = config
        self.call_id = call_id
        self.facts = facts or CallerFacts()
        self.state = CallState.NEW
        self.details: list[Step] = []
        self.number = ""
        self.caller = ""
        self.started_at: dt.datetime | None = None
        self.number_id: int | None = None
        self.scenario_id: int | None = None
        self.outcome: Hangup | Reject | None = None
        self.rating: int | None = None
        self.answered_by: int | None = None
        self._scenario: Scenario | None = None
        self._op: AnyOperation | None = None
        self._insert_depth = 0
        self._hops = 0
        self._menus: list[tuple[int | None, Scenario, Menu]] = []
        self._deadline: dt.datetime | None = None
        self._on_timer: Then | None = None
        self._after_play: Then | None = None
        self._input: _Input | None = None
        self._dialing: _Dialing | None = None
        self._first_employee: int | None = None
        self._last_employee: int | None = None
        self._rate_after: bool = False
        self._vm: Voicemail | None = None
        self._http_id = 0
        self._region: str | None = None
        self._region_known = False

    # -- public --------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    @property
    def offers_tagging(self) -> bool:
        """SCN-TAG: the talk under way ends with the employee tagging the call."""
        return self.state is CallState.TALKING and self._dialing is not None and self._dialing.tag

    def get_timer(self) -> dt.datetime | None:
        """When `handle_timer` must be called next (None: no timer running)."""
        return None if self.ended else self._deadline

    def handle_timer(self, now: dt.datetime) -> list[Action]:
        if self.ended or self._deadline is None or now < self._deadline:
            return []
        then = self._on_timer
        self._deadline = None
        self._on_timer = None
        return then(now) if then is not None else []

    def handle(self, event: Event, now: dt.datetime) -> list[Action]:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self.ended:
            return []
        match event:
            case CallArrived():
                return self._arrived(event, now) if self.state is CallState.NEW else []
            case TimerFired():
                return self.handle_timer(now)
            case CallerHungUp():
                return self._caller_hung_up(now)
            case Digit():
                return self._digit(event.digit, now)
            case PlaybackDone():
                return self._playback_done(now)
            case RecordingDone():
                return self._recording_done(event, now)
            case Answered():
                return self._answered(event, now)
            case DialFailed():
                return self._dial_failed(event, now)
            case TalkEnded():
                return self._talk_ended(event, now)
            case HttpResponse():
                return self._http_response(event, now)
        return []

    def dial_group(self, caller: str, group_id: int, now: dt.datetime) -> list[Action]:
        """GRP-1: an employee dialled a group's extension: the group's distribution table rings
        at once (its simultaneous lines, schedule, availability), as a Forward to the group."""
        if self.state is not CallState.NEW:
            return []
        self.started_at = now
        self.caller = caller
        group = self.config.groups.get(group_id)
        name = group.name if group is not None else f"#{group_id}"
        self._log(now, "arrived", f"внутренний звонок с {caller} на группу '{name}'")
        op = Forward(key="group", title=name, targets=[ForwardTarget(group_id=group_id)])
        self._op = op
        actions = self._forward(op, now)
        assert self._dialing is not None
        self._dialing.fail_exit = ""  # nobody answered: the call ends, there is no next step
        return actions

    def start_scenario(
        self, caller: str, number: str, scenario_id: int, now: dt.datetime
    ) -> list[Action]:
        """CB-2 «Сценарий ВАТС»: the client the PBX called back answered; the scenario runs
        with him as with a caller of `number` (no rules chose it, nobody has to answer him)."""
        if self.state is not CallState.NEW:
            return []
        self.started_at = now
        self.caller = digits_of(caller)
        self.number = digits_of(number)
        found = self.config.numbers.get(self.number)
        self.number_id = found[0] if found is not None else None
        scenario = self.config.scenarios.get(scenario_id)
        if scenario is None:
            return self._end(now, "no_scenario", f"сценария #{scenario_id} нет: звонок завершен")
        self.state = CallState.PLAYING
        return self._start_scenario(scenario_id, scenario, now)

    def rule_scenario(self, number: str, caller: str, now: dt.datetime) -> tuple[int | None, str]:
        """NUM-2 with no call: the scenario the first matching rule of `number` gives `caller`
        at `now` (None: not a PBX number of the account, or no rule matches) and why."""
        self.caller = digits_of(caller)
        found = self.config.numbers.get(digits_of(number))
        if found is None:
            return None, f"номер {number} не подключен"
        for position, rule in enumerate(found[1].rules, start=1):
            if self._rule_mismatch(rule, now) is None and rule.scenario_id in self.config.scenarios:
                return rule.scenario_id, f"правило {position} номера {found[1].number}"
        return None, f"ни одно правило номера {found[1].number} не подошло"

    # -- details -------------------------------------------------------------------------------

    def _log(self, now: dt.datetime, kind: str, text: str, **data: Any) -> None:
        self.details.append(Step(now, kind, text, data))

    def _end(
        self, now: dt.datetime, reason: str, text: str, status: str = "missed"
    ) -> list[Action]:
        self._log(now, "hangup", text, reason=reason, status=status)
        self.state = CallState.ENDED
        self._deadline = None
        self.outcome = Hangup(reason, status)
        return [self.outcome]

    def _timer(self, now: dt.datetime, seconds: float, then: Then) -> None:
        self._deadline = now + dt.timedelta(seconds=seconds)
        self._on_timer = then

    def _cancel_timer(self) -> None:
        self._deadline = None
        self._on_timer = None

    # -- rules (NUM-2..4, BLK) ------------------------------------------------------------------

    def _arrived(self, event: CallArrived, now: dt.datetime) -> list[Action]:
        self.started_at = now
        self.number = digits_of(event.number)
        self.caller = digits_of(event.caller)
        self._log(now, "arrived", f"входящий звонок с {self.caller} на {self.number}")
        if self.caller and self.caller in self.config.blacklist:
            self._log(now, "blocked", f"номер {self.caller} в черном списке: звонок отклонен")
            self.state = CallState.ENDED
            self.outcome = Reject("blacklisted")
            return [self.outcome]
        found = self.config.numbers.get(self.number)
        if found is None:
            return self._no_route(now, f"номер {self.number} не подключен", [])
        self.number_id, vnumber = found
        if vnumber.kind is NumberKind.ANALYTICS and vnumber.forward_to:
            self._log(now, "rule", f"номер аналитики: переадресация на {vnumber.forward_to}")
            self._dialing = _Dialing(fail_exit="", label=vnumber.forward_to)
            self.state = CallState.DIALING
            return [Dial((DialTarget(number=vnumber.forward_to),), operation="analytics")]
        for position, rule in enumerate(vnumber.rules, start=1):
            reason = self._rule_mismatch(rule, now)
            label = f"правило {position}" + (f" '{rule.name}'" if rule.name else "")
            if reason is not None:
                self._log(now, "rule_skipped", f"{label} не подошло: {reason}", rule=position)
                continue
            scenario = self.config.scenarios.get(rule.scenario_id)
            if scenario is None:
                self._log(now, "rule_skipped", f"{label}: сценария #{rule.scenario_id} нет")
                continue
            why = f"{label}: {self._schedule_text(rule)}, {self._callers_text(rule)}"
            self._log(now, "rule", why, rule=position, scenario_id=rule.scenario_id)
            self.state = CallState.PLAYING
            return [Answer(), *self._start_scenario(rule.scenario_id, scenario, now)]
        return self._no_route(now, "ни одно правило не подошло", [])

    def _no_route(self, now: dt.datetime, why: str, before: list[Action]) -> list[Action]:
        self._log(now, "no_route", f"{why}: системное сообщение no_route и отбой")
        self.state = CallState.PLAYING
        self._after_play = lambda t: self._end(t, "no_route", "звонок завершен: нет правила")
        return [*before, Answer(), self._play(now, Play(system="no_route"))]

    def _schedule_text(self, rule: NumberRule) -> str:
        if rule.schedule_id is None:
            return "график не указан"
        name = self.config.schedules.get(rule.schedule_id, (f"#{rule.schedule_id}", None))[0]
        return f"график '{name}'"

    def _callers_text(self, rule: NumberRule) -> str:
        c = rule.callers
        cfg = self.config
        match c.scope:
            case CallerScope.ALL:
                return "для всех номеров"
            case CallerScope.UNKNOWN:
                return "неизвестный номер"
            case CallerScope.CONTACTS:
                names = [cfg.contacts[i].last_name for i in c.contact_ids if i in cfg.contacts]
                return "контакты " + ", ".join(f"'{n}'" for n in names)
            case CallerScope.CONTACT_GROUPS:
                names = [
                    cfg.contact_groups[i].name
                    for i in c.contact_group_ids
                    if i in cfg.contact_groups
                ]
                return "группа контактов " + ", ".join(f"'{n}'" for n in names)
            case CallerScope.LISTS:
                names = [
                    cfg.caller_lists[i].name for i in c.caller_list_ids if i in cfg.caller_lists
                ]
                return "список " + ", ".join(f"'{n}'" for n in names)
        return c.scope.value  # pragma: no cover

    def _rule_mismatch(self, rule: NumberRule, now: dt.datetime) -> str | None:
        if not rule.enabled:
            return "правило выключено"
        if rule.schedule_id is not None:
            entry = self.config.schedules.get(rule.schedule_id)
            if entry is None:
                return f"графика #{rule.schedule_id} нет"
            name, spec = entry
            if not is_active(spec, now, self.config.tz, self.config.calendar):
                return f"вне графика '{name}'"
        c = rule.callers
        contacts = self.config.contacts_by_phone.get(self.caller, ())
        match c.scope:
            case CallerScope.ALL:
                return None
            case CallerScope.UNKNOWN:
                return "номер есть в адресной книге" if contacts else None
            case CallerScope.CONTACTS:
                return None if set(contacts) & set(c.contact_ids) else "звонящий не из контактов"
            case CallerScope.CONTACT_GROUPS:
                groups = {g for cid in contacts for g in self.config.contacts[cid].group_ids}
                if groups & set(c.contact_group_ids):
                    return None
                return "звонящий не в группе контактов"
            case CallerScope.LISTS:
                for lid in c.caller_list_ids:
                    lst = self.config.caller_lists.get(lid)
                    if lst is not None and any(self._pattern(p) for p in lst.numbers):
                        return None
                return "номера нет в списке АОНов"
        return None  # pragma: no cover

    def _pattern(self, pattern: str) -> bool:
        return matches_pattern(self.caller, pattern)

    # -- scenario graph -------------------------------------------------------------------------

    def _start_scenario(
        self, scenario_id: int | None, scenario: Scenario, now: dt.datetime
    ) -> list[Action]:
        self.scenario_id = scenario_id
        self._scenario = scenario
        self._log(now, "scenario", f"сценарий '{scenario.name}'", scenario_id=scenario_id)
        if scenario.entry is None:
            return self._end(now, "empty_scenario", f"в сценарии '{scenario.name}' нет операций")
        return self._enter(scenario.entry, now)

    def _follow(self, exit_name: str, now: dt.datetime, label: str = "") -> list[Action]:
        op = self._op
        assert op is not None
        target = op.exits.get(exit_name)
        shown = label or exit_name
        if target is None:
            return self._end(
                now,
                "unlinked_exit",
                f"выход '{shown}' операции '{op.title or op.key}' не настроен: звонок завершен",
            )
        self._log(now, "exit", f"выход '{shown}' → операция '{target}'", exit=exit_name)
        return self._enter(target, now)

    def _goto(self, target: str | None, label: str, now: dt.datetime) -> list[Action]:
        op = self._op
        name = (op.title or op.key) if op is not None else "?"
        if target is None:
            return self._end(now, "unlinked_exit", f"выход '{label}' операции '{name}' не настроен")
        self._log(now, "exit", f"выход '{label}' → операция '{target}'")
        return self._enter(target, now)

    def _enter(self, key: str, now: dt.datetime) -> list[Action]:
        scenario = self._scenario
        assert scenario is not None
        index = self.config.operations.get(self.scenario_id) if self.scenario_id else None
        op = index.get(key) if index is not None else scenario.operation(key)
        if op is None:
            return self._end(now, "broken_link", f"операции '{key}' нет в сценарии")
        self._hops += 1
        if self._hops > MAX_HOPS:
            return self._end(now, "loop", "сценарий зациклился: звонок завершен")
        self._op = op
        self._input = None
        self._cancel_timer()
        self._log(now, "operation", f"операция '{op.title or op.key}' ({op.kind})", key=op.key)
        # dispatch on the exact type: isinstance() on pydantic models is slow in this hot path
        handler = _HANDLERS.get(type(op))
        if handler is not None:
            return handler(self, op, now)
        return self._end(now, "unknown_operation", f"неизвестная операция {op.kind}")

    # -- playing and collecting -----------------------------------------------------------------

    def _play(self, now: dt.datetime, play: Play) -> Play:
        parts = [f"'{self.config.file_label(f)}'" for f in play.file_ids]
        if play.text:
            parts.append(f"текст «{play.text}»")
        if play.system:
            shown = f"'{SYSTEM_LABELS.get(play.system, play.system)}' ({play.system}"
            own = self.config.system_files.get(play.system)
            if own is not None:
                shown += f", файл аккаунта '{self.config.file_label(own)}'"
            parts.append(shown + ")")
        self._log(now, "play", "проигрывание: " + ", ".join(parts), system=play.system or None)
        return play

    def _then_play(self, now: dt.datetime, play: Play, then: Then) -> list[Action]:
        self.state = CallState.PLAYING
        self._after_play = then
        return [self._play(now, play)]

    def _collect(
        self,
        now: dt.datetime,
        prompt: Play | None,
        inp: _Input,
    ) -> list[Action]:
        self.state = CallState.COLLECTING
        self._input = inp
        out: list[Action] = []
        if prompt is not None:
            inp.prompt_playing = True
            out.append(self._play(now, prompt))
        else:
            self._timer(now, inp.first_timeout, self._input_timeout)
        out.append(CollectDigits(inp.max_digits, inp.inter_digit, inp.terminators))
        return out

    def _input_timeout(self, now: dt.datetime) -> list[Action]:
        inp = self._input
        if inp is None:
            return []
        self._input = None
        return inp.on_done(inp.digits, now)

    def _playback_done(self, now: dt.datetime) -> list[Action]:
        if self.state is CallState.PLAYING and self._after_play is not None:
            then, self._after_play = self._after_play, None
            return then(now)
        if self.state is CallState.COLLECTING and self._input is not None:
            inp = self._input
            if inp.prompt_playing:
                inp.prompt_playing = False
                if not inp.digits:
                    self._timer(now, inp.first_timeout, self._input_timeout)
        return []

    def _digit(self, digit: str, now: dt.datetime) -> list[Action]:
        if len(digit) != 1 or digit not in "0123456789*#":
            return []
        if self.state is CallState.RATING:
            return self._rating_digit(digit, now)
        if self.state is not CallState.COLLECTING or self._input is None:
            return []
        inp = self._input
        out: list[Action] = []
        if inp.prompt_playing:
            inp.prompt_playing = False
            out.append(StopPlayback())
        self._log(now, "digit", f"нажата клавиша {digit}", digit=digit)
        if inp.on_key is not None:
            self._input = None
            self._cancel_timer()
            decided = inp.on_key(inp.digits, digit, now)
            if decided is not None:
                return out + decided
            self._input = inp
        if digit in inp.terminators and inp.digits:
            self._cancel_timer()
            self._input = None
            return out + inp.on_done(inp.digits, now)
        inp.digits += digit
        if len(inp.digits) >= inp.max_digits:
            self._cancel_timer()
            self._input = None
            return out + inp.on_done(inp.digits, now)
        self._timer(now, inp.inter_digit, self._input_timeout)
        return out

    def _prompt(self, file_id: int | None, text: str = "") -> Play | None:
        if file_id is not None:
            return Play(file_ids=(file_id,), barge_in=True)
        if text:
            return Play(text=text, barge_in=True)
        return None

    # -- operations ---------------------------------------------------------------------------

    def _info(self, op: InfoMessage, now: dt.datetime) -> list[Action]:
        play = Play(file_ids=tuple(op.file_ids), text=op.text)
        return self._then_play(now, play, lambda t: self._follow("next", t))

    def _auth(self, op: Authorization, now: dt.datetime) -> list[Action]:
        def done(digits: str, t: dt.datetime) -> list[Action]:
            ok = digits == op.code
            shown = "*" * len(digits) if digits else "ничего"
            verdict = "верный" if ok else "неверный"
            self._log(t, "auth", f"авторизация: введено {shown}, код {verdict}", ok=ok)
            return self._follow("yes" if ok else "no", t)

        prompt = self._prompt(op.prompt_file_id) or Play(text=DEFAULT_AUTH_PROMPT, barge_in=True)
        inp = _Input(op.inter_digit_timeout, op.inter_digit_timeout, 32, "#", done)
        return self._collect(now, prompt, inp)

    def _voicemail(self, op: Voicemail, now: dt.datetime) -> list[Action]:
        prompt = (
            Play(file_ids=(op.prompt_file_id,))
            if op.prompt_file_id is not None
            else Play(system="voicemail_greeting")
        )

        def record(t: dt.datetime) -> list[Action]:
            self.state = CallState.RECORDING
            self._vm = op
            self._log(t, "voicemail", f"запись голосового сообщения (до {op.max_seconds} с)")
            return [Record(op.max_seconds)]

        return self._then_play(now, prompt, record)

    def _mail(self, now: dt.datetime, file_id: int | None) -> list[Action]:
        op = self._vm
        assert op is not None
        self._vm = None
        when = (self.started_at or now).astimezone(self.config.tz)
        subject = f"{self.caller or 'неизвестный номер'} {when:%d.%m.%Y %H:%M:%S}"
        to = tuple(op.emails)
        what = "с записью" if file_id is not None else "без записи (абонент ничего не оставил)"
        if not to:
            self._log(now, "mail", f"письмо голосовой почты {what} не отправлено: адрес не задан")
            return []
        self._log(now, "mail", f"письмо голосовой почты {what}: «{subject}» → {', '.join(to)}")
        return [SendMail(to, subject, file_id)]

    def _recording_done(self, event: RecordingDone, now: dt.datetime) -> list[Action]:
        if self.state is not CallState.RECORDING or self._vm is None:
            return []
        file_id = event.file_id if event.seconds > 0 or event.file_id is not None else None
        mail = self._mail(now, file_id)
        op = self._op
        assert op is not None
        if op.exits.get("next") is None:
            self.state = CallState.ENDED
            self._log(now, "hangup", "голосовое сообщение принято: отбой", status="voicemail")
            self.outcome = Hangup("voicemail", "voicemail")
            return [*mail, self.outcome]
        return [*mail, *self._follow("next", now)]

    # Menu (SCN-MENU) ----------------------------------------------------------------------------

    def _menu(self, op: Menu, now: dt.datetime) -> list[Action]:
        scenario = self._scenario
        assert scenario is not None
        if not self._menus or self._menus[-1][2] is not op:
            self._menus.append((self.scenario_id, scenario, op))
        ext_key = op.exits.get("extension_input")
        ext_op = scenario.operation(ext_key) if ext_key is not None else None
        extension = ext_op if isinstance(ext_op, ExtensionForward) else None

        def immediate(sofar: str, key: str, t: dt.datetime) -> list[Action] | None:
            # with the extension input a digit may start an extension: wait for the interval;
            # `#` after digits ends the extension
            if extension is not None and (key.isdigit() or sofar):
                return None
            return self._menu_key(op, key, t)

        def done(digits: str, t: dt.datetime) -> list[Action]:
            if not digits:
                self._log(t, "menu", "меню: время ожидания истекло")
                return self._follow("timeout", t, "время ожидания истекло")
            if len(digits) == 1 and op.exits.get(digits) is not None:
                self._log(t, "menu", f"меню: одна цифра {digits}, на клавише есть выход")
                return self._follow(digits, t, f"клавиша {digits}")
            if extension is None:  # not reachable: without it the first key decides at once
                return self._follow("invalid", t, "некорректный ввод")
            if len(digits) == 1:
                why = f"меню: цифра {digits} без выхода → внутренний номер {digits}"
            else:
                why = f"меню: введено {digits} → внутренний номер {digits}"
            self._log(t, "menu", why, digits=digits)
            self._op = extension
            self._log(t, "operation", f"операция '{extension.title or extension.key}' (extension)")
            return self._extension(extension, t, digits)

        prompt = self._prompt(op.prompt_file_id, op.prompt_text)
        inp = _Input(op.timeout, op.timeout, 32, "#", done, on_key=immediate)
        return self._collect(now, prompt, inp)

    def _menu_key(self, op: Menu, key: str, now: dt.datetime) -> list[Action]:
        if op.exits.get(key) is not None:
            return self._follow(key, now, f"клавиша {key}")
        if key == "#" and op.hash_returns and len(self._menus) > 1:
            self._menus.pop()
            sid, scenario, previous = self._menus[-1]
            self._log(
                now, "menu", f"# → возврат в предыдущее меню '{previous.title or previous.key}'"
            )
            self._scenario, self.scenario_id = scenario, sid
            self._menus.pop()
            return self._enter(previous.key, now)
        self._log(now, "menu", f"меню: на клавише {key} нет выхода → некорректный ввод")
        return self._follow("invalid", now, "некорректный ввод")

    # Forward to extension (SCN-EXT) ------------------------------------------------------------

    def _extension(
        self, op: ExtensionForward, now: dt.datetime, entered: str | None = None
    ) -> list[Action]:
        if entered is not None:
            return self._dial_extension(op, entered, now)

        def done(digits: str, t: dt.datetime) -> list[Action]:
            return self._dial_extension(op, digits, t)

        prompt = self._prompt(op.prompt_file_id) or Play(
            text=DEFAULT_EXTENSION_PROMPT, barge_in=True
        )
        inp = _Input(op.inter_digit_timeout, op.inter_digit_timeout, 5, "#", done)
        return self._collect(now, prompt, inp)

    def _dial_extension(self, op: ExtensionForward, digits: str, now: dt.datetime) -> list[Action]:
        found = self.config.extensions.get(digits) if digits else None
        if found is None:
            shown = digits or "ничего не введено"
            self._log(now, "extension", f"внутренний номер {shown} не найден", digits=digits)
            if op.exits.get("invalid") is None and op.from_menu and self._menus:
                sid, scenario, menu = self._menus[-1]
                self._log(now, "exit", "номер введен неверно → input_timeout → меню")

                def back(t: dt.datetime) -> list[Action]:
                    self._scenario, self.scenario_id = scenario, sid
                    return self._enter(menu.key, t)

                return self._then_play(now, Play(system="input_timeout"), back)
            return self._follow("invalid", now, "номер введен неверно")
        kind, ident = found
        if kind == "employee":
            emp = self.config.employees[ident]
            target = DialTarget(employee_id=ident)
            label = f"сотрудник {emp.name} (доб. {digits})"
        else:
            group = self.config.groups[ident]
            target = DialTarget(group_id=ident)
            label = f"группа '{group.name}' (доб. {digits})"
        self._log(now, "extension", f"внутренний номер {digits}: {label}", target=kind, id=ident)
        return self._dial(
            now,
            Dial(
                (target,),
                operation=op.key,
                scenario_id=self.scenario_id,
                ringback_file_ids=tuple(op.ringback_file_ids),
            ),
            _Dialing("failed", label=label),
        )

    # Forward (SCN-FWD), personal manager (SCN-PM) -----------------------------------------------

    def _dial(self, now: dt.datetime, dial: Dial, ctx: _Dialing) -> list[Action]:
        self.state = CallState.DIALING
        self._dialing = ctx
        groups = [t.group_id for t in dial.targets if t.group_id is not None]
        # the groups let a callback «тем, кому пытались дозвониться» know their lines (CB-1)
        self._log(
            now, "dial", f"переадресация: {ctx.label}", operation=dial.operation, group_ids=groups
        )
        return [dial]

    def _forward(self, op: Forward, now: dt.datetime) -> list[Action]:
        cfg = self.config
        names = []
        for t in op.targets:
            if t.group_id is not None:
                names.append(
                    f"группа '{cfg.groups[t.group_id].name}'"
                    if t.group_id in cfg.groups
                    else f"группа #{t.group_id}"
                )
            elif t.employee_id is not None:
                emp = cfg.employees.get(t.employee_id)
                names.append(emp.name if emp is not None else f"сотрудник #{t.employee_id}")
            else:
                names.append(str(t.number))
        d = op.distribution
        dial = Dial(
            tuple(DialTarget(t.group_id, t.employee_id, t.phone_id, t.number) for t in op.targets),
            operation=op.key,
            scenario_id=self.scenario_id,
            strategy=op.strategy.value,
            simultaneous_lines=d.simultaneous_lines,
            ring_timeout=d.ring_timeout,
            percentage=d.percentage,
            queue=d.queue,
            wrapup_seconds=d.wrapup_seconds,
            initial_lines=d.initial_lines,
            add_line_every=d.add_line_every,
            ringback_file_ids=tuple(op.ringback_file_ids),
            queue_message_file_id=op.queue_message_file_id,
            operator_message_file_id=op.operator_message_file_id,
            operator_message_text=""
            if op.operator_message_file_id is not None
            else op.operator_message_text,
        )
        label = ", ".join(names) + f" (стратегия {op.strategy.value})"
        ctx = _Dialing("no_answer", rate=op.rate_after_call, tag=op.tag_after_call, label=label)
        return self._dial(now, dial, ctx)

    def _personal_manager(self, op: PersonalManager, now: dt.datetime) -> list[Action]:
        managers = [c.manager_id for c in self.config.contacts_of(self.caller) if c.manager_id]
        manager = next((m for m in managers if m in self.config.employees), None)
        if manager is None:
            why = "у звонящего нет персонального менеджера"
            if managers:
                why = f"персональный менеджер #{managers[0]} не найден среди сотрудников"
            self._log(now, "manager", why)
            return self._follow("failed", now, "переадресация не удалась")
        emp = self.config.employees[manager]
        dial = Dial(
            (DialTarget(employee_id=manager),),
            operation=op.key,
            scenario_id=self.scenario_id,
            ring_timeout=op.ring_timeout,
            ringback_file_ids=tuple(op.ringback_file_ids),
        )
        return self._dial(now, dial, _Dialing("failed", label=f"персональный менеджер {emp.name}"))

    def _answered(self, event: Answered, now: dt.datetime) -> list[Action]:
        if self.state is not CallState.DIALING or self._dialing is None:
            return []
        ctx = self._dialing
        who = event.number or "?"
        if event.employee_id is not None:
            emp = self.config.employees.get(event.employee_id)
            who = emp.name if emp is not None else f"сотрудник #{event.employee_id}"
            if self._first_employee is None:
                self._first_employee = event.employee_id
                self._rate_after = bool(emp and emp.rate_after_call)
            self._last_employee = event.employee_id
            self.answered_by = event.employee_id
        self._rate_after = self._rate_after or ctx.rate
        phone = f" (телефон {event.phone_id})" if event.phone_id else ""
        self._log(now, "answered", f"ответил {who}{phone}", employee_id=event.employee_id)
        self.state = CallState.TALKING
        return [Bridge(event.employee_id, event.phone_id, event.number)]

    def _dial_failed(self, event: DialFailed, now: dt.datetime) -> list[Action]:
        if self.state is not CallState.DIALING or self._dialing is None:
            return []
        ctx = self._dialing
        self._dialing = None
        text = f"никто не ответил ({event.reason})"
        if event.details:
            text += ": " + "; ".join(event.details)
        self._log(now, "dial_failed", text, reason=event.reason)
        if not ctx.fail_exit:
            return self._end(now, "no_answer", "звонок завершен: не дозвонились")
        labels = {"failed": "переадресация не удалась", "no_answer": "после переадресации"}
        return self._follow(ctx.fail_exit, now, labels.get(ctx.fail_exit, ctx.fail_exit))

    def _talk_ended(self, event: TalkEnded, now: dt.datetime) -> list[Action]:
        if self.state is not CallState.TALKING:
            return []
        ctx = self._dialing
        by = "сотрудник" if event.by == "employee" else "абонент"
        self._log(now, "talk_ended", f"разговор завершен: положил трубку {by}", by=event.by)
        out: list[Action] = []
        if ctx is not None and ctx.tag:
            self._log(now, "tag", "постобработка: сотруднику предложено поставить тег")
            out.append(OfferTagging(self._last_employee))
        if event.by == "employee" and self._rate_after:
            self.state = CallState.RATING
            self._timer(now, RATING_TIMEOUT, self._rating_timeout)
            out += [self._play(now, Play(system="rate_prompt", barge_in=True))]
            out.append(CollectDigits(1, RATING_TIMEOUT, ""))
            return out
        return out + self._end(now, "completed", "звонок завершен после разговора", "answered")

    def _rating_digit(self, digit: str, now: dt.datetime) -> list[Action]:
        if digit not in "12345":
            self._log(now, "rating", f"оценка: клавиша {digit} не оценка 1..5")
            return []
        self.rating = int(digit)
        self._log(now, "rating", f"оценка оператора: {digit}", rating=self.rating)
        out: list[Action] = [StopPlayback(), StoreRating(self._last_employee, self.rating)]
        return out + self._end(now, "completed", "звонок завершен после оценки", "answered")

    def _rating_timeout(self, now: dt.datetime) -> list[Action]:
        self._log(now, "rating", "оценка не поставлена")
        return self._end(now, "completed", "звонок завершен после разговора", "answered")

    def run_scenario(self, scenario_id: int, now: dt.datetime) -> list[Action]:
        """TALK-1: the employee in the talk sends the caller to a scenario: the talk is over
        (no rating, no tagging: the employee chose where the caller goes) and the scenario
        starts from its entry."""
        if self.state is not CallState.TALKING:
            return []
        scenario = self.config.scenarios.get(scenario_id)
        if scenario is None:
            return self._end(now, "broken_link", f"сценария #{scenario_id} нет")
        self._dialing = None
        self.state = CallState.NEW  # no longer talking: a late TalkEnded changes nothing
        self._log(
            now,
            "talk_option",
            f"сотрудник отправил абонента в сценарий '{scenario.name}'",
            scenario_id=scenario_id,
        )
        return self._start_scenario(scenario_id, scenario, now)

    # Insert scenario (SCN-INS) ------------------------------------------------------------------

    def _insert(self, op: InsertScenario, now: dt.datetime) -> list[Action]:
        scenario = self.config.scenarios.get(op.scenario_id)
        if scenario is None:
            return self._end(now, "broken_link", f"вставляемого сценария #{op.scenario_id} нет")
        self._insert_depth += 1
        if self._insert_depth > MAX_INSERT_DEPTH:
            return self._end(now, "loop", "слишком глубокая вставка сценариев (цикл?)")
        self._log(now, "insert", f"вставка сценария '{scenario.name}'", scenario_id=op.scenario_id)
        return self._start_scenario(op.scenario_id, scenario, now)

    # Interactive processing (IVX) ---------------------------------------------------------------

    def _interactive(self, op: Interactive, now: dt.datetime) -> list[Action]:
        if op.dtmf_length:

            def done(digits: str, t: dt.datetime) -> list[Action]:
                return self._ivx_request(op, digits, t)

            prompt = self._prompt(op.prompt_file_id)
            inp = _Input(IVX_DTMF_INTERVAL, IVX_DTMF_INTERVAL, op.dtmf_length, "#", done)
            return self._collect(now, prompt, inp)
        return self._ivx_request(op, None, now)

    def _ivx_request(self, op: Interactive, digits: str | None, now: dt.datetime) -> list[Action]:
        started = self.started_at or now
        values = {
            "cdr_id": self.call_id,
            "start_time": str(int(started.timestamp())),
            "input_result": digits if digits else "None",
            "numa": self.caller,
            "numb": self.number,
        }
        params = tuple((p.value, values[p.value]) for p in op.params)
        self._http_id += 1
        self.state = CallState.WAITING_HTTP
        self._timer(
            now, op.timeout, lambda t: self._ivx_failed(op, f"нет ответа за {op.timeout:g} с", t)
        )
        self._log(now, "http", f"запрос в CRM: {op.method} {op.url}", params=dict(params))
        return [HttpRequest(self._http_id, op.method, op.url, params, op.timeout)]

    def _ivx_failed(self, op: Interactive, why: str, now: dt.datetime) -> list[Action]:
        self._log(now, "ivx", f"интерактивная обработка не удалась: {why} → запасной выход")
        return self._follow("fallback", now, "запасной выход")

    def _http_response(self, event: HttpResponse, now: dt.datetime) -> list[Action]:
        op = self._op
        if (
            self.state is not CallState.WAITING_HTTP
            or event.request_id != self._http_id
            or not isinstance(op, Interactive)
        ):
            return []
        self._cancel_timer()
        result = parse_ivx(event.status, event.body, event.error, self.config.files_by_name)
        if isinstance(result, IvxFailure):
            return self._ivx_failed(op, result.reason, now)
        if result.returned_code is not None:
            code = result.returned_code
            branch = next((b for b in op.codes if b.code == code), None)
            if branch is None:
                return self._ivx_failed(op, f"кода возврата {code} нет среди связанных", now)
            self._log(now, "ivx", f"CRM: код возврата {code}", code=code)
            return self._goto(branch.target, f"код {code}", now)
        self._log(now, "ivx", "CRM: инструкция получена", phones=list(result.phones))
        dial: Dial | None = None
        if result.phones:
            dial = Dial(
                tuple(self._crm_target(p) for p in result.phones),
                operation=op.key,
                scenario_id=self.scenario_id,
                operator_message_file_id=result.operator_file_id,
                operator_message_text=result.operator_text,
            )
        message: Play | None = None
        if result.message_file_id is not None:
            message = Play(file_ids=(result.message_file_id,))
        elif result.text:
            message = Play(text=result.text)

        def forward(t: dt.datetime) -> list[Action]:
            if dial is None:
                return self._end(t, "crm_message", "сообщение CRM проиграно: отбой", "missed")
            ctx = _Dialing("fallback", label="номера из CRM: " + ", ".join(result.phones))
            return self._dial(t, dial, ctx)

        if message is not None:
            return self._then_play(now, message, forward)
        return forward(now)

    def _crm_target(self, phone: str) -> DialTarget:
        """A CRM phone that is an extension of the account rings that employee or group (a CRM
        names the personal manager by his extension); any other is an outside number."""
        found = self.config.extensions.get(phone)
        if found is None:
            return DialTarget(number=phone)
        kind, ident = found
        if kind == "group":
            return DialTarget(group_id=ident)
        return DialTarget(employee_id=ident)

    # Distribution by visit, region, segment -----------------------------------------------------

    def _visit(self, op: VisitDistribution, now: dt.datetime) -> list[Action]:
        count = visits_within(self.facts, now, op.interval_hours, op.count_all_communications)
        kinds = "все коммуникации" if op.count_all_communications else "звонки"
        if count == 0:
            self._log(now, "visit", f"первичное обращение (за {op.interval_hours} ч, {kinds})")
            return self._follow("first", now, "первичное")
        self._log(now, "visit", f"повторное обращение: {count} за {op.interval_hours} ч ({kinds})")
        return self._follow("repeat", now, "повторное")

    def _caller_region(self) -> str | None:
        if not self._region_known:
            self._region = region_of(self.caller, self.facts.ranges) if self.caller else None
            self._region_known = True
        return self._region

    def _region_op(self, op: RegionDistribution, now: dt.datetime) -> list[Action]:
        region = self._caller_region()
        if region is not None:
            key = region_key(region)
            for branch in op.branches:
                if region_key(branch.region) == key:
                    self._log(now, "region", f"регион звонящего: {region}", region=region)
                    return self._goto(branch.target, branch.region, now)
        shown = region or "не определен"
        self._log(now, "region", f"регион звонящего: {shown} → остальные", region=region)
        return self._follow("others", now, "остальные")

    def _segment_op(self, op: SegmentDistribution, now: dt.datetime) -> list[Action]:
        found = caller_segments(self.config, self.facts, self.caller, self._caller_region(), now)
        if not found:
            self._log(now, "segment", "звонящий не входит ни в один сегмент")
            return self._follow("no_segment", now, "без сегмента")
        for branch in op.branches:
            if branch.segment_id in found:
                name = self.config.segments[branch.segment_id].name
                self._log(now, "segment", f"сегмент '{name}'", segment_id=branch.segment_id)
                return self._goto(branch.target, f"сегмент '{name}'", now)
        names = ", ".join(f"'{self.config.segments[s].name}'" for s in found)
        self._log(now, "segment", f"сегменты звонящего {names} не в операции → остальные")
        return self._follow("others", now, "остальные")

    # -- hang-up ----------------------------------------------------------------------------------

    def _caller_hung_up(self, now: dt.datetime) -> list[Action]:
        self._log(now, "caller_hangup", "абонент положил трубку")
        out: list[Action] = []
        state = self.state
        if state is CallState.PLAYING and isinstance(self._op, Voicemail):
            # left during the greeting: SCN-VM mails even when nothing was recorded
            self._vm = self._op
            state = CallState.RECORDING
        if state is CallState.RECORDING and self._vm is not None:
            out += self._mail(now, None)
            self.state = CallState.ENDED
            self.outcome = Hangup("voicemail", "voicemail")
            self._log(now, "hangup", "голосовая почта: абонент положил трубку", status="voicemail")
            return [*out, self.outcome]
        if state is CallState.DIALING:
            out.append(CancelDial())
        if state in (CallState.TALKING, CallState.RATING):
            ctx = self._dialing
            if state is CallState.TALKING and ctx is not None and ctx.tag:
                # SCN-TAG: the employee is still on the line; the call core keeps him for it
                self._log(now, "tag", "постобработка: сотруднику предложено поставить тег")
                out.append(OfferTagging(self._last_employee))
            return out + self._end(now, "completed", "звонок завершен", "answered")
        if state is CallState.NEW:
            return self._end(now, "caller_hung_up", "абонент положил трубку до начала")
        return out + self._end(now, "caller_hung_up", "звонок завершен: абонент положил трубку")


_HANDLERS: dict[type, Callable[[Call, Any, dt.datetime], list[Action]]] = {
    InfoMessage: Call._info,
    Authorization: Call._auth,
    Voicemail: Call._voicemail,
    Menu: Call._menu,
    Forward: Call._forward,
    ExtensionForward: Call._extension,
    PersonalManager: Call._personal_manager,
    InsertScenario: Call._insert,
    Interactive: Call._interactive,
    VisitDistribution: Call._visit,
    RegionDistribution: Call._region_op,
    SegmentDistribution: Call._segment_op,
}
