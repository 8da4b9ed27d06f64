"""References between entities, declared on fields and found by walking validated models.

A field typed `Annotated[int, Ref("groups")]` (or a list of them) points at an entity of the same
account. One walker serves three needs: checking that every reference exists in the account,
listing the users of an entity whose deletion is asked (ACC-4), and renumbering ids when a whole
account is imported (ACC-3).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class Ref:
    """Marks an int field as the id of an entity of resource `kind`.

    `weak` references are memberships (an employee in a group, a contact in a contact group):
    they do not block deletion; the reference is dropped instead.
    """

    kind: str
    weak: bool = False


@dataclass(frozen=True, slots=True)
class FoundRef:
    """One reference found in a model: where it is, what it points at."""

    path: str
    ref: Ref
    target_id: int


def _ref_of(metadata: typing.Iterable[Any]) -> Ref | None:
    for item in metadata:
        if isinstance(item, Ref):
            return item
    return None


def _split_annotated(annotation: Any) -> tuple[Any, Ref | None]:
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return base, _ref_of(meta)
    return annotation, None


def _list_item_annotation(annotation: Any) -> Any | None:
    """The item type of a list/tuple annotation (through Optional), else None."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return args[0] if args else Any
    if origin in (Union, types.UnionType):
        for arm in typing.get_args(annotation):
            item = _list_item_annotation(arm)
            if item is not None:
                return item
    return None


def _scalar_ref(annotation: Any) -> Ref | None:
    """A Ref on `Annotated[int, Ref]` possibly wrapped in Optional."""
    base, ref = _split_annotated(annotation)
    if ref is not None:
        return ref
    if typing.get_origin(base) in (Union, types.UnionType):
        for arm in typing.get_args(base):
            found = _split_annotated(arm)[1]
            if found is not None:
                return found
    return None


def field_ref(model_cls: type[BaseModel], name: str) -> tuple[Ref | None, Any]:
    info = model_cls.model_fields[name]
    ref = _ref_of(info.metadata) or _scalar_ref(info.annotation)
    return ref, info.annotation


def iter_refs(model: BaseModel, prefix: str = "") -> Iterator[FoundRef]:
    """Every reference held by `model` and the models nested in it."""
    cls = type(model)
    for name in cls.model_fields:
        value = getattr(model, name)
        path = f"{prefix}{name}"
        ref, annotation = field_ref(cls, name)
        yield from _walk_value(value, ref, annotation, path)


def _walk_value(value: Any, ref: Ref | None, annotation: Any, path: str) -> Iterator[FoundRef]:
    if value is None:
        return
    if isinstance(value, BaseModel):
        yield from iter_refs(value, f"{path}.")
        return
    if isinstance(value, list | tuple):
        item_annotation = _list_item_annotation(annotation)
        item_ref = ref or (_scalar_ref(item_annotation) if item_annotation is not None else None)
        for index, item in enumerate(value):
            yield from _walk_value(item, item_ref, item_annotation, f"{path}.{index}")
        return
    if ref is not None and isinstance(value, int) and not isinstance(value, bool):
        yield FoundRef(path, ref, value)


Mapper = Callable[[Ref, int], int | None]
M = TypeVar("M", bound=BaseModel)


def map_refs(model: M, mapper: Mapper) -> M:
    """A copy of `model` with every reference replaced by `mapper(ref, id)`.

    `None` from the mapper drops the item from a list (or sets an optional field to None). A model
    in a list whose required reference maps to None is dropped as a whole (a row of a group's
    distribution table whose employee is gone); at the top level that is an error.
    """
    mapped = _map_model(model, mapper)
    if mapped is None:
        raise ValueError(f"a required reference of {type(model).__name__} was mapped to None")
    return mapped


def _allows_none(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return type(None) in typing.get_args(annotation)
    return annotation is Any or annotation is type(None)


def _map_model(model: M, mapper: Mapper) -> M | None:
    cls = type(model)
    updates: dict[str, Any] = {}
    for name in cls.model_fields:
        value = getattr(model, name)
        ref, annotation = field_ref(cls, name)
        new = _map_value(value, ref, annotation, mapper)
        if new is None and value is not None and not _allows_none(annotation):
            return None
        if new is not value:
            updates[name] = new
    return model.model_copy(update=updates) if updates else model


def _map_value(value: Any, ref: Ref | None, annotation: Any, mapper: Mapper) -> Any:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return _map_model(value, mapper)
    if isinstance(value, list | tuple):
        item_annotation = _list_item_annotation(annotation)
        item_ref = ref or (_scalar_ref(item_annotation) if item_annotation is not None else None)
        items = []
        changed = False
        for item in value:
            new = _map_value(item, item_ref, item_annotation, mapper)
            changed = changed or new is not item
            if new is not None:
                items.append(new)
        if not changed:
            return value
        return type(value)(items)
    if ref is not None and isinstance(value, int) and not isinstance(value, bool):
        return mapper(ref, value)
    return value
