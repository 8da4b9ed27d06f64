"""The HTTP port bound with retries (`vpbx.transport.listen`): a port held by a listening socket
is bound once its holder lets go, one that stays held ends in a clear error, other errors fail
at once. Time is a fake clock advanced by the fake sleep: no test waits."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from vpbx.transport.listen import ListenError, bind_with_retry


@dataclass
class FakeTime:
    """A clock that moves only when slept on; `at` runs once the clock reaches its time (the
    holder of the port letting go meanwhile)."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)
    at: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        for due, action in list(self.at):
            if self.now >= due:
                self.at.remove((due, action))
                action()


@pytest.fixture
def holder() -> Iterator[socket.socket]:
    """A plain socket listening on a loopback port, as an old API worker's does: with
    SO_REUSEADDR on the binding side, only a socket in LISTEN keeps the port in use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_the_port_is_bound_once_its_holder_lets_go(
    holder: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    port = holder.getsockname()[1]
    time = FakeTime(at=[(0.5, holder.close)])
    caplog.set_level(logging.WARNING, logger="vpbx.transport.listen")

    bound = bind_with_retry("127.0.0.1", port, clock=time.clock, sleep=time.sleep)

    with bound:
        assert bound.getsockname() == ("127.0.0.1", port)
        bound.listen()  # uvicorn's own socket would listen there too
    # in use at 0, 0.2 and 0.4 s; released at 0.6, the first attempt after 0.5
    assert time.slept == pytest.approx([0.2, 0.2, 0.2])
    # one structured line a retry, naming the port and the error
    retries = [r.__dict__ for r in caplog.records if r.getMessage() == "port in use: binding again"]
    assert [(r["port"], r["attempt"]) for r in retries] == [(port, 1), (port, 2), (port, 3)]
    assert all("Address already in use" in r["error"] for r in retries)


def test_a_port_that_stays_in_use_ends_in_a_clear_error(holder: socket.socket) -> None:
    port = holder.getsockname()[1]
    time = FakeTime()

    with pytest.raises(ListenError, match=rf"port {port} on 127\.0\.0\.1 still in use") as raised:
        bind_with_retry("127.0.0.1", port, clock=time.clock, sleep=time.sleep, retry_for=1.0)

    # attempts at 0, 0.2, … 1.0 s: the budget is spent, not overrun
    assert sum(time.slept) == pytest.approx(1.0)
    assert "(6 attempts)" in str(raised.value)
    cause = raised.value.__cause__
    assert isinstance(cause, OSError)
    assert cause.errno == errno.EADDRINUSE


def test_an_error_no_wait_can_cure_fails_at_once() -> None:
    """An address this host does not have (TEST-NET-1) is not retried."""
    time = FakeTime()

    with pytest.raises(OSError, match="Cannot assign requested address") as raised:
        bind_with_retry("192.0.2.1", 8080, clock=time.clock, sleep=time.sleep)

    assert not isinstance(raised.value, ListenError)
    assert raised.value.errno == errno.EADDRNOTAVAIL
    assert time.slept == []
