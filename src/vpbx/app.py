"""The composition root: settings → engine → services → API (and, later, SIP and media)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.api.app import create_api
from vpbx.settings import Settings
from vpbx.storage.db import make_async_engine


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Application:
    settings: Settings
    engine: AsyncEngine
    api: FastAPI


def build(settings: Settings) -> Application:
    engine = make_async_engine(settings.resolved_database_url())
    return Application(settings, engine, create_api(engine, utc_now))
