"""What goes into a `CallLogic` and what comes out: the events the switch (or the simulator)
reports and the commands it carries out. Frozen, slotted dataclasses; no clock of their own.

A *ring* is one thing the call logic asked to ring (a phone of an employee, or an outside
number), named by a small integer the logic chose. The switch may fork it (a SIP line with two
registered contacts rings twice) but reports it as one: answered once, or failed once when all
its forks failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vpbx.domain.entities.misc import FileKind
from vpbx.scenario import actions as act
from vpbx.scenario import distribution as dist
from vpbx.scenario.events import (
    CallerHungUp,
    Digit,
    HttpResponse,
    PlaybackDone,
    TimerFired,
)
from vpbx.scenario.snapshot import PhoneInfo

__all__ = [
    "AnswerCaller",
    "AssignManager",
    "CallCut",
    "CallSupervisor",
    "CallTrainer",
    "CalleeHungUp",
    "CallerHungUp",
    "Command",
    "CompleteTransfer",
    "ConnectCallee",
    "Connected",
    "ConsultTarget",
    "Digit",
    "DistAction",
    "DistDetail",
    "Distribute",
    "EmployeeDigit",
    "FindPhones",
    "HangUp",
    "HoldCaller",
    "HoldChanged",
    "HoldMusic",
    "HttpResponse",
    "Input",
    "KeepEmployee",
    "MailSent",
    "NotifyTransfer",
    "PhonesFound",
    "PlayToCaller",
    "PlaybackDone",
    "PromptEmployee",
    "RecordTalk",
    "RecordingSaved",
    "RejectCall",
    "ReleaseEmployee",
    "ReplacesAsked",
    "ReturnToEmployee",
    "RingAnswered",
    "RingFailed",
    "RingNumber",
    "RingPhone",
    "RingRefused",
    "Ringback",
    "SaveCaller",
    "SendVoicemail",
    "StartRecording",
    "StopPlayback",
    "StopRecording",
    "StopRing",
    "StopTalkRecording",
    "SuperviseAsked",
    "TagCall",
    "TakeConsultation",
    "TalkRecordingSaved",
    "TargetHungUp",
    "TellDistribution",
    "TimerFired",
    "ToneToEmployee",
    "TrainerDigit",
    "TrainerJoined",
    "TrainerLeft",
    "TrainerMode",
    "TransferAsked",
]


# -- events: what happened -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhonesFound:
    """The answer to `FindPhones`: the (employee, phone) pairs that can ring now."""

    reachable: frozenset[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class RingAnswered:
    """A ring was answered. `employee_id`/`phone_id` name who actually took it when that is not
    the phone rung: an employee who picked the call up (88 + extension, EMP-5)."""

    ring: int
    employee_id: int | None = None
    phone_id: str | None = None


@dataclass(frozen=True, slots=True)
class RingFailed:
    """Every fork of a ring ended without an answer; `status` is the SIP final status."""

    ring: int
    status: int


@dataclass(frozen=True, slots=True)
class RingRefused:
    """The switch did not ring at all, and says why (no trunk, the toll-fraud guard, an option
    the account does not have); `kind` and `data` go into the call details."""

    ring: int
    text: str
    kind: str = "ring_refused"
    data: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Connected:
    """The caller and the employee (or number) who answered now hear each other."""


@dataclass(frozen=True, slots=True)
class CalleeHungUp:
    """The employee (or the outside number) hung up during the talk."""


@dataclass(frozen=True, slots=True)
class CallCut:
    """The switch cut the call short (the toll-fraud guard's minutes per hour ran out)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RecordingSaved:
    """The recording asked by `StartRecording` is over; `file_id` None: nothing was recorded."""

    file_id: int | None
    seconds: float


@dataclass(frozen=True, slots=True)
class TalkRecordingSaved:
    """The conversation's recording asked by `RecordTalk` is over (`StopTalkRecording`):
    `file_id` None: nothing was kept; `error` says why it stopped early or was not filed (a
    full disk), "" when it was not."""

    file_id: int | None
    seconds: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class MailSent:
    """The voicemail mail's fate (it may come after the call ended)."""

    delivered: bool
    attempts: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class EmployeeDigit:
    """A key the employee in the talk pressed (RFC 4733 or SIP INFO): a talk option, `#` and a
    number to transfer (TALK-5). The caller does not hear it."""

    digit: str


@dataclass(frozen=True, slots=True)
class TransferAsked:
    """The employee's phone asked to transfer the caller (SIP REFER, RFC 3515) to `target`: the
    Refer-To user, an extension or a number. Its progress goes back as `NotifyTransfer`."""

    target: str
    #: the Refer-To as `user@server[:port]` when it names another server than ours (XFR-3)
    uri: str = ""


@dataclass(frozen=True, slots=True)
class ReplacesAsked:
    """The employee's phone asked for an attended transfer of its own (REFER whose Refer-To
    carries Replaces, RFC 3891/5589): the caller is to take the place of the employee in the
    *consultation*, a call the phone placed through the PBX and that `employee_id` answered.
    `consultation` is the switch's id of that call. `status` (with `reason`) is set when the
    switch found no such dialog (481) or one it cannot hand over; nothing is to be done then
    but telling the phone (`NotifyTransfer`). Its progress goes back as `NotifyTransfer`."""

    consultation: str = ""
    employee_id: int | None = None
    status: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TrainerDigit:
    """A key the trainer pressed while in the talk: 1 listen, 2 whisper, 3 barge (TRN-1)."""

    digit: str


@dataclass(frozen=True, slots=True)
class SuperviseAsked:
    """TRN-1 from the live view: the supervisor `employee_id` (`name` in the details) asked to
    join the talk in `mode` ("listen", "whisper", "barge"); the switch found one of his phones
    reachable and nobody else joining."""

    employee_id: int
    name: str
    mode: str


@dataclass(frozen=True, slots=True)
class TrainerJoined:
    """The trainer's (or the supervisor's) phone answered: he is in the talk, in `mode`."""

    mode: str


@dataclass(frozen=True, slots=True)
class TrainerLeft:
    """The trainer (or the supervisor) hung up (`joined`), or none of his phones answered: the
    talk goes on without him."""

    joined: bool = True


@dataclass(frozen=True, slots=True)
class HoldChanged:
    """A phone put the call on hold (`holding`) or took it off: `by` is "caller", "callee"
    (the employee) or "trainer"."""

    by: str
    holding: bool


@dataclass(frozen=True, slots=True)
class TargetHungUp:
    """The transfer target hung up while the employee was talking to him (attended transfer)."""


@dataclass(frozen=True, slots=True)
class DistAction:
    """What the node's distributor decided for this call."""

    action: dist.Action


@dataclass(frozen=True, slots=True)
class DistDetail:
    """A call-details record of the distribution about this call."""

    detail: dist.Detail


Input = (
    Digit
    | PlaybackDone
    | HttpResponse
    | TimerFired
    | CallerHungUp
    | PhonesFound
    | RingAnswered
    | RingFailed
    | RingRefused
    | Connected
    | CalleeHungUp
    | CallCut
    | RecordingSaved
    | MailSent
    | TalkRecordingSaved
    | DistAction
    | DistDetail
    | EmployeeDigit
    | TransferAsked
    | ReplacesAsked
    | TargetHungUp
    | HoldChanged
    | TrainerDigit
    | SuperviseAsked
    | TrainerJoined
    | TrainerLeft
)


# -- commands: what the switch does --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnswerCaller:
    """Answer the caller (200) if not yet: media is about to flow to or from him."""


@dataclass(frozen=True, slots=True)
class PlayToCaller:
    """Play prompts to the caller; `PlaybackDone` follows when `play.loop` is false."""

    play: act.Play


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Stop whatever the caller hears from us."""


@dataclass(frozen=True, slots=True)
class Ringback:
    """While phones ring: the operation's files as early media (before the answer), or ringing:
    the caller's own phone rings on 180, or our ringback tone once he is answered."""

    file_ids: tuple[int, ...]
    answered: bool


@dataclass(frozen=True, slots=True)
class HoldMusic:
    """QUE-4/5: the queue message (a file, or the system one) and the estimated wait, then the
    music files (or the built-in tone), again and again."""

    message_file_id: int | None
    estimated_wait: float | None
    music_file_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StartRecording:
    """Record the caller (after a beep); the logic says `StopRecording` when it is over."""

    max_seconds: int
    beep: bool = True


@dataclass(frozen=True, slots=True)
class StopRecording:
    """Stop and keep the recording as a voicemail file of the account, against the employee or
    group whose forward led to it (ACC-2); `RecordingSaved` follows. `kind`: the file base tab
    it goes to (a sound file recorded by phone, FILE-1)."""

    name: str
    caller: str
    called: str
    employee_id: int | None = None
    group_id: int | None = None
    kind: FileKind = FileKind.VOICEMAIL


@dataclass(frozen=True, slots=True)
class FindPhones:
    """Which of these employees' phones can ring now (registered SIP lines, numbers, URIs);
    `PhonesFound` follows."""

    employee_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RingPhone:
    """Ring one phone of an employee (all registered contacts of a SIP line)."""

    ring: int
    employee_id: int
    phone: PhoneInfo
    timeout: float
    #: the caller ID presented (XFR-2: a phone that is a PSTN number gets the virtual number)
    caller_id: str
    #: a transfer target (TALK-5): rung while the caller is on hold, beside the talk
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class RingNumber:
    """Ring an outside number through the outbound trunk (of the virtual number, if it names
    one); XFR-2: `caller_id` is the virtual number."""

    ring: int
    number: str
    timeout: float
    caller_id: str
    trunk_id: int | None = None
    #: a transfer target (TALK-5): rung while the caller is on hold, beside the talk
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class RingUri:
    """Ring a SIP URI of another PBX directly (XFR-3: `user@server[:port]`, a paid option)."""

    ring: int
    uri: str
    timeout: float
    #: not a PSTN leg: the caller's own number may be shown (XFR-2)
    caller_id: str
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class StopRing:
    """Stop ringing (all forks of) a ring."""

    ring: int


@dataclass(frozen=True, slots=True)
class ConnectCallee:
    """Connect the caller with the ring that answered, after playing the operator message to
    the employee (SCN-FWD, IVX-2); `Connected` follows."""

    ring: int
    message_file_id: int | None = None
    message_text: str = ""


@dataclass(frozen=True, slots=True)
class HangUp:
    """End the call: every leg is hung up."""


@dataclass(frozen=True, slots=True)
class RejectCall:
    """Refuse the caller before any answer (BLK: the blacklist)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class SendVoicemail:
    """Mail the voicemail (SCN-VM); `MailSent` follows."""

    to: tuple[str, ...]
    subject: str
    file_id: int | None
    caller: str
    called: str


@dataclass(frozen=True, slots=True)
class Distribute:
    """Hand the request to the node's distributor; its steps come back as `DistAction` and
    `DistDetail` of the calls they concern."""

    request: dist.ForwardRequest


@dataclass(frozen=True, slots=True)
class TellDistribution:
    """An event for the node's distributor (answered, ring ended, talk over, caller left)."""

    event: dist.Event


# -- the talk: transfers and talk options (TALK-1..7) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class HoldCaller:
    """Take the caller out of the talk: he hears hold music (the files, or the built-in one)
    while a transfer target rings; the employee hears nothing from him."""

    music_file_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsultTarget:
    """Attended transfer: the transfer target (the ring that answered) and the employee talk;
    the caller stays on hold."""

    ring: int


@dataclass(frozen=True, slots=True)
class CompleteTransfer:
    """The transfer is done: the employee's leg is hung up (if still there) and the caller
    talks to the ring that answered, which is now the call's employee (or number)."""

    ring: int


@dataclass(frozen=True, slots=True)
class TakeConsultation:
    """Attended transfer by Replaces: the answered leg of the `consultation` call (the target
    the employee's phone has been talking to) leaves that call, which ends, and becomes this
    call's transfer target as ring `ring`; `RingAnswered(ring)` follows, or `RingFailed(ring,
    481)` when that leg is gone."""

    ring: int
    consultation: str


@dataclass(frozen=True, slots=True)
class ReturnToEmployee:
    """The transfer is over without a target: its legs are dropped; the caller talks to the
    employee again, or, the employee gone, the call is back with the scenario."""


@dataclass(frozen=True, slots=True)
class KeepEmployee:
    """SCN-TAG: when the caller hangs up, keep the employee's leg (the core has a tag prompt
    for him); the core hangs him up itself."""


@dataclass(frozen=True, slots=True)
class PromptEmployee:
    """Say `text` to the employee (the talk is over or paused while it plays)."""

    text: str


@dataclass(frozen=True, slots=True)
class ReleaseEmployee:
    """Hang up the employee's leg; the caller stays, with the scenario (TALK-1)."""


@dataclass(frozen=True, slots=True)
class NotifyTransfer:
    """The progress of a REFER to the phone that sent it (NOTIFY, message/sipfrag): 100, then
    the final status of the target."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class ToneToEmployee:
    """A short tone to the employee in the talk: his option was done (`ok`), or not."""

    ok: bool = True


@dataclass(frozen=True, slots=True)
class CallTrainer:
    """TALK-3 / TRN-1: ring the trainer of `employee_id`; he joins as a whisper."""

    employee_id: int


@dataclass(frozen=True, slots=True)
class CallSupervisor:
    """TRN-1 from the live view: ring the phones of the supervisor `employee_id`; the first to
    answer joins the talk in `mode` ("listen", "whisper", "barge")."""

    employee_id: int
    mode: str


@dataclass(frozen=True, slots=True)
class TrainerMode:
    """TRN-1: how the trainer takes part: "listen" (nobody hears him), "whisper" (only the
    employee does), "barge" (everyone hears everyone: a three-way conference)."""

    mode: str


@dataclass(frozen=True, slots=True)
class TagCall:
    """TALK-4 / TAG-1: put a tag on the call: an existing one, or a new one by `name`."""

    tag_id: int | None
    name: str = ""


@dataclass(frozen=True, slots=True)
class AssignManager:
    """TALK-6: `employee_id` becomes the personal manager of the contact of `caller` (created
    if the address book has none)."""

    employee_id: int
    caller: str


@dataclass(frozen=True, slots=True)
class SaveCaller:
    """TALK-7: the caller's number into a contact group, or into the blacklist (BLK-1)."""

    caller: str
    contact_group_id: int | None
    to_blacklist: bool


@dataclass(frozen=True, slots=True)
class RecordTalk:
    """REC-1, TALK-2: record the conversation, both parties, in stereo (the caller left, the
    employee right); the logic says `StopTalkRecording` when the talk is over.
    `caller_connected`: the caller (the client) is the leg connected to the call's own side,
    which is the employee (a call the PBX placed, employee first)."""

    caller_connected: bool = False


@dataclass(frozen=True, slots=True)
class StopTalkRecording:
    """Stop the conversation's recording and keep it in the file base («Записанные
    разговоры»), against the employee who talked; `TalkRecordingSaved` follows."""

    name: str
    caller: str
    called: str
    employee_id: int | None


Command = (
    AnswerCaller
    | PlayToCaller
    | StopPlayback
    | Ringback
    | HoldMusic
    | StartRecording
    | StopRecording
    | FindPhones
    | RingPhone
    | RingNumber
    | RingUri
    | StopRing
    | ConnectCallee
    | HangUp
    | RejectCall
    | SendVoicemail
    | act.HttpRequest
    | act.OfferTagging
    | act.CollectDigits
    | Distribute
    | TellDistribution
    | HoldCaller
    | ConsultTarget
    | CompleteTransfer
    | TakeConsultation
    | ReturnToEmployee
    | ReleaseEmployee
    | KeepEmployee
    | PromptEmployee
    | NotifyTransfer
    | ToneToEmployee
    | CallTrainer
    | CallSupervisor
    | TrainerMode
    | TagCall
    | AssignManager
    | SaveCaller
    | RecordTalk
    | StopTalkRecording
)
