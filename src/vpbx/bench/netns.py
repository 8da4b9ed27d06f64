"""A network namespace of one's own, entered by the calling thread (tests and the kernel-mode
relay benchmark): the sockets it opens and the processes it starts (nft, vpbx, peers, the
load) live there, so kernel RTP rules never touch the host's ruleset, and the namespace, with
its nftables table, goes at the end. Needs root (CAP_SYS_ADMIN) and `ip` (iproute2).

`setns(2)` changes the namespace of the calling thread only; an event loop running in that
thread follows, with its sockets and subprocesses. The thread goes back to the namespace it
came from at the end; sockets keep the namespace they were made in.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["network_namespace"]

CLONE_NEWNET = 0x4000_0000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@contextmanager
def network_namespace(prefix: str = "vpbx") -> Iterator[str]:
    """Create a namespace with `lo` up, enter it for the block, delete it after; its name."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(Path("/run/netns") / name, os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield name
            finally:
                _setns(home)
        finally:
            os.close(target)
            os.close(home)
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)
