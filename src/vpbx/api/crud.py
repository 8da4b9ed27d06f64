"""One router per resource of the catalogue: list, get, create, replace, update, delete.

No `from __future__ import annotations` here: FastAPI must see the per-resource body types.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic import BaseModel, create_model

from vpbx.api.changes import ConfigChanged
from vpbx.api.deps import MAX_ID, EntityId, Service
from vpbx.api.errors import ErrorBody
from vpbx.services.catalog import Resource
from vpbx.services.entities import EntityService

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)
}
RESERVED = {"limit", "offset", "sort"}
#: a write based on a stale version (If-Match), answered on PUT and PATCH
STALE: dict[int | str, dict[str, Any]] = {412: {"model": ErrorBody}}
#: the ETag header of an answer that carries one entity
TAGGED: dict[str, Any] = {
    "headers": {
        "ETag": {
            "description": "the entity's version: send it back as If-Match on PUT/PATCH",
            "schema": {"type": "string"},
        }
    }
}
IfMatch = Annotated[
    str | None,
    Header(
        description="the ETag this write is based on: a 412 if the entity changed since "
        "(someone else saved it); without it the write replaces whatever is stored"
    ),
]


def page_model(res: Resource) -> type[BaseModel]:
    return create_model(
        f"{res.doc.__name__}Page",
        items=(list[res.out], ...),  # type: ignore[name-defined]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )


#: what a resource adds to the answer of a save (a scenario's lost-call warnings)
AfterSave = Callable[[EntityService, BaseModel], Awaitable[dict[str, Any]]]


def resource_router(
    res: Resource,
    after_save: tuple[type[BaseModel], AfterSave] | None = None,
    *,
    list_route: bool = True,
) -> APIRouter:
    """`after_save` = (the response model of a save, the function that builds its body).

    `list_route=False` leaves `GET /{resource}` to a dedicated router (the calls report, the
    file base tabs), which must then be included before this one.

    Writes of a resource that belongs to the account configuration (`res.exported`) tell the
    switch through `ConfigChanged`; history and work items (calls, leads, tasks) do not.
    """
    router = APIRouter(prefix=f"/{res.name}", tags=[res.name], responses=ERRORS)
    doc_model: Any = res.doc
    out_model: Any = res.out
    saved_model: Any = after_save[0] if after_save is not None else res.out

    async def answer(svc: EntityService, saved: BaseModel) -> Any:
        return saved if after_save is None else await after_save[1](svc, saved)

    def config_written(svc: EntityService, changed: Callable[[int], None]) -> None:
        if res.exported:
            changed(svc.account_id)

    if list_route:

        @router.get(
            "",
            response_model=page_model(res),
            summary=f"List {res.name}",
            description="Paged; any scalar field is a filter (`?field=value`); "
            "`sort=field,-other`.",
        )
        async def list_items(
            request: Request,
            svc: Service,
            limit: Annotated[int, Query(ge=1, le=1000)] = 50,
            offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
            sort: str | None = None,
        ) -> dict[str, Any]:
            filters = {k: v for k, v in request.query_params.items() if k not in RESERVED}
            page = await svc.page(res.name, filters, sort, limit, offset)
            return {
                "items": page.items,
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
            }

    async def tagged(svc: EntityService, entity_id: int, response: Response) -> None:
        response.headers["ETag"] = await svc.tag(res.name, entity_id)

    @router.get(
        "/{entity_id}",
        response_model=out_model,
        summary=f"Get one of {res.name}",
        responses={200: TAGGED},
    )
    async def get_item(entity_id: EntityId, svc: Service, response: Response) -> BaseModel:
        item, tag = await svc.get_tagged(res.name, entity_id)
        response.headers["ETag"] = tag
        return item

    @router.delete("/{entity_id}", status_code=204, summary=f"Delete one of {res.name}")
    async def delete_item(
        entity_id: EntityId, svc: Service, changed: ConfigChanged, confirm: bool = False
    ) -> Response:
        await svc.delete(res.name, entity_id, confirm=confirm)
        config_written(svc, changed)
        return Response(status_code=204)

    if not res.api_writable:
        return router

    @router.post(
        "",
        response_model=saved_model,
        status_code=201,
        summary=f"Create one of {res.name}",
        responses={201: TAGGED},
    )
    async def create_item(
        body: Annotated[doc_model, Body()],
        svc: Service,
        changed: ConfigChanged,
        response: Response,
    ) -> Any:
        data = body.model_dump(mode="json", exclude_unset=True)
        saved = await svc.create(res.name, data)
        config_written(svc, changed)
        await tagged(svc, saved.id, response)  # type: ignore[attr-defined]
        return await answer(svc, saved)

    @router.put(
        "/{entity_id}",
        response_model=saved_model,
        summary=f"Replace one of {res.name}",
        responses={**STALE, 200: TAGGED},
    )
    async def replace_item(
        entity_id: EntityId,
        body: Annotated[doc_model, Body()],
        svc: Service,
        changed: ConfigChanged,
        response: Response,
        if_match: IfMatch = None,
    ) -> Any:
        data = body.model_dump(mode="json", exclude_unset=True)
        saved = await svc.replace(res.name, entity_id, data, if_match=if_match)
        config_written(svc, changed)
        await tagged(svc, entity_id, response)
        return await answer(svc, saved)

    @router.patch(
        "/{entity_id}",
        response_model=saved_model,
        summary=f"Update fields of one of {res.name}",
        responses={**STALE, 200: TAGGED},
    )
    async def update_item(
        entity_id: EntityId,
        body: Annotated[dict[str, Any], Body()],
        svc: Service,
        changed: ConfigChanged,
        response: Response,
        if_match: IfMatch = None,
    ) -> Any:
        saved = await svc.update(res.name, entity_id, body, if_match=if_match)
        config_written(svc, changed)
        await tagged(svc, entity_id, response)
        return await answer(svc, saved)

    return router
