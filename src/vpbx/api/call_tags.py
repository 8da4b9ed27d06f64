"""`GET`/`PUT /calls/{call_id}/tags` (TAG-1): a call's tags, read and replaced through the API.

Calls are history, not configuration: a change of a call's tags tells the switch nothing and
writes no audit entry. Who may replace them is who may change calls (`calls.writable_by`: admins
and the operator); whoever may read the call reads its tags (an employee, his own calls).
"""

from __future__ import annotations

from fastapi import APIRouter

from vpbx.api.crud import ERRORS
from vpbx.api.deps import EntityId, Service
from vpbx.services import call_tags
from vpbx.services.call_tags import MAX_CALL_TAGS, CallTags

__all__ = ["call_tags_router"]


def call_tags_router() -> APIRouter:
    router = APIRouter(prefix="/calls", tags=["calls"], responses=ERRORS)

    @router.get("/{call_id}/tags", response_model=CallTags, summary="The tags of a call")
    async def get_call_tags(call_id: EntityId, svc: Service) -> CallTags:
        return CallTags(tag_ids=await call_tags.call_tags(svc, call_id))

    @router.put(
        "/{call_id}/tags",
        response_model=CallTags,
        summary="Replace the tags of a call",
        description="TAG-1: the call carries exactly these tags of the account (at most "
        f"{MAX_CALL_TAGS}, each once; a repeated id is stored once). An id that is no tag of "
        "the account is a 422 naming `tag_ids.N` (an id the call already carries is kept even "
        "if its tag was deleted); another account's call is a 404. Admins and the operator; "
        "the calls report finds the call by `tag_id`.",
    )
    async def put_call_tags(call_id: EntityId, body: CallTags, svc: Service) -> CallTags:
        return CallTags(tag_ids=await call_tags.replace_call_tags(svc, call_id, body.tag_ids))

    return router
