"""The whole suite runs on the event loop production runs (`vpbx run` uses uvloop).

The policy is set when the suite is collected, so every loop a test makes — pytest-asyncio's,
`asyncio.run` in a helper, the threads serving the API or a live PBX — is a uvloop loop: the
default loop hid behaviour only uvloop has (a `call_at` in the past returns a plain `Handle`)."""

from __future__ import annotations

import asyncio

import uvloop

asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
