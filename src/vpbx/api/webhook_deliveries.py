"""`GET /webhooks/{id}/deliveries` (API-2): the delivery log of a webhook, newest first: each
event's state (pending, delivered, given up), attempts, the receiver's last status and the
reason of the last failure, and when the next attempt is due. Whoever may read webhooks
(admins, the operator, supervisors) reads their log; another account's webhook is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vpbx.api.crud import ERRORS
from vpbx.api.deps import EntityId, Service
from vpbx.domain.outbox import OutboxState
from vpbx.services.outbox import Delivery, webhook_deliveries

__all__ = ["webhook_deliveries_router"]


def webhook_deliveries_router() -> APIRouter:
    router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=ERRORS)

    @router.get(
        "/{webhook_id}/deliveries",
        response_model=list[Delivery],
        summary="The delivery log of a webhook",
        description="API-2: the webhook's requests, newest first (at most `limit`): `state` "
        "pending (waiting for its next attempt at `next_attempt_at`), delivered (the receiver "
        "answered 2xx) or given_up (too old, or the webhook was deleted or disabled; "
        "`last_reason` says why); `attempts` made so far, `last_status` the receiver's last HTTP "
        "status (null: no answer). `event_id` is the idempotency key the receiver got in "
        "`X-Vpbx-Event-Id`.",
    )
    async def get_deliveries(
        webhook_id: EntityId,
        svc: Service,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        state: OutboxState | None = None,
    ) -> list[Delivery]:
        return await webhook_deliveries(svc, webhook_id, limit=limit, state=state)

    return router
