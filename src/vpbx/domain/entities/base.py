"""The base of every entity document: unknown fields are refused, never ignored."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict

from vpbx.domain.refs import Ref


class Document(BaseModel):
    """A writable entity document (what the API and the YAML export carry)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


EmployeeRef = Annotated[int, Ref("employees")]
GroupRef = Annotated[int, Ref("groups")]
ScheduleRef = Annotated[int, Ref("schedules")]
ScenarioRef = Annotated[int, Ref("scenarios")]
FileRef = Annotated[int, Ref("files")]
NumberRef = Annotated[int, Ref("numbers")]
ContactRef = Annotated[int, Ref("contacts")]
ContactGroupRef = Annotated[int, Ref("contact-groups")]
CallerListRef = Annotated[int, Ref("caller-lists")]
TagRef = Annotated[int, Ref("tags")]
SegmentRef = Annotated[int, Ref("segments")]
SipLineRef = Annotated[int, Ref("sip-lines")]
FmcLineRef = Annotated[int, Ref("fmc-lines")]
TrunkRef = Annotated[int, Ref("trunks")]
CallbackRuleRef = Annotated[int, Ref("callback-rules")]
CallRef = Annotated[int, Ref("calls")]
