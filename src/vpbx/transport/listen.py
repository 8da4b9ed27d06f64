"""A TCP port to listen on, bound again every `every` seconds while it is still in use.

After a `kill -9` of a `vpbx run` process group, an API worker of the old instance can hold
the HTTP port for a moment after its parent is gone (the kernel closes its sockets as it
reaps it). uvicorn binds once and exits on "Address already in use", and the supervisor then
stops the new switch as well: a restart right after a crash failed as a whole. So the API
process first binds here: EADDRINUSE alone is retried (it is what a dying holder explains),
every other error (no permission for the port, no such address) fails at once, and after
`retry_for` seconds of a port still in use `ListenError` says so in words for the operator.

The clock and the sleep are passed in, so the retries are tested without waiting.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable

__all__ = ["RETRY_EVERY", "RETRY_SECONDS", "ListenError", "bind_with_retry"]

log = logging.getLogger("vpbx.transport.listen")

#: how long a port in use is tried again: a dying process releases it within a second or two
RETRY_SECONDS = 5.0
#: the pause between two attempts
RETRY_EVERY = 0.2


class ListenError(RuntimeError):
    """The port was still in use when the retries ran out; the message names it."""


def bind_with_retry(
    host: str,
    port: int,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    retry_for: float = RETRY_SECONDS,
    every: float = RETRY_EVERY,
) -> socket.socket:
    """A TCP socket bound to `host`:`port` (not yet listening), with the options uvicorn's
    own bind sets, so that where this one binds, uvicorn's binds too.

    Raises `ListenError` if the port is still in use `retry_for` seconds after the first
    attempt, and any other `OSError` of the bind at once."""
    deadline = clock() + retry_for
    attempt = 1
    while True:
        try:
            return _bind(host, port)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            left = deadline - clock()
            if left <= 0:
                raise ListenError(
                    f"port {port} on {host or 'all addresses'} still in use after "
                    f"{retry_for:g} s ({attempt} attempts): is another vpbx (or another "
                    "server) running on it?"
                ) from error
            pause = min(every, left)
            log.warning(
                "port in use: binding again",
                extra={
                    "host": host,
                    "port": port,
                    "error": str(error),
                    "attempt": attempt,
                    "retry_in_s": round(pause, 3),
                },
            )
            sleep(pause)
            attempt += 1


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # as uvicorn does: connections of a previous instance in TIME_WAIT do not block the
        # port, a socket still listening on it does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
