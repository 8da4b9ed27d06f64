"""The base of every entity document: unknown fields are refused, never ignored."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from vpbx.domain.refs import Ref


class Document(BaseModel):
    """A writable entity document (what the API and the YAML export carry)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


#: Ids are BIGINT columns: a reference beyond them is refused as input (422) instead of overflowing
#: in the database driver when its existence is checked (a 500).
MAX_ID = 2**63 - 1
_Id = Field(ge=1, le=MAX_ID)

EmployeeRef = Annotated[int, _Id, Ref("employees")]
GroupRef = Annotated[int, _Id, Ref("groups")]
ScheduleRef = Annotated[int, _Id, Ref("schedules")]
ScenarioRef = Annotated[int, _Id, Ref("scenarios")]
FileRef = Annotated[int, _Id, Ref("files")]
NumberRef = Annotated[int, _Id, Ref("numbers")]
ContactRef = Annotated[int, _Id, Ref("contacts")]
ContactGroupRef = Annotated[int, _Id, Ref("contact-groups")]
CallerListRef = Annotated[int, _Id, Ref("caller-lists")]
TagRef = Annotated[int, _Id, Ref("tags")]
SegmentRef = Annotated[int, _Id, Ref("segments")]
SipLineRef = Annotated[int, _Id, Ref("sip-lines")]
FmcLineRef = Annotated[int, _Id, Ref("fmc-lines")]
TrunkRef = Annotated[int, _Id, Ref("trunks")]
CallbackRuleRef = Annotated[int, _Id, Ref("callback-rules")]
CallRef = Annotated[int, _Id, Ref("calls")]
