"""Fixtures of the media tests: the bridge's relay run both ways (Python, native C)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vpbx.media import fastrelay


@pytest.fixture(params=["python", "native"])
def relay_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Bridges made during the test use the Python relay, or the native one, which must then
    really have taken the talk over at least once (a test that never reaches it fails: a
    missing extension fails too, VPBX_FAST_RELAY=1 refuses to do without it)."""
    mode: str = request.param
    monkeypatch.setenv(fastrelay.ENV, "1" if mode == "native" else "0")
    relays: list[fastrelay.FastRelay] = []
    original = fastrelay.FastRelay.__init__

    def recording(self: fastrelay.FastRelay, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        relays.append(self)

    monkeypatch.setattr(fastrelay.FastRelay, "__init__", recording)
    yield mode
    entered = sum(relay.entered for relay in relays)
    if mode == "native":
        assert entered, "the native relay never took the talk over"
    else:
        assert not relays
