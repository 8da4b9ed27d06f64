"""File descriptors: the switch's limit raised at start, and the share TCP/TLS may take of it.

Every RTP leg holds two sockets, every SIP connection one, the database and the files a few
more. When idle connections took them all, new calls failed with "could not bind any RTP port
pair". The switch therefore raises its soft RLIMIT_NOFILE to the hard limit (what the
administrator allows, no privilege needed) and caps TCP/TLS connections so that a reserve
(the RTP port range and `VPBX_SIP_FD_RESERVE` more) always stays free.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("vpbx.sip.transport")

#: however small the descriptor limit, SIP over TCP/TLS keeps at least this share of it
_MIN_SHARE = 4


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        # An unlimited hard limit cannot be the soft one on Linux (nr_open caps it): keep a
        # generous finite value instead.
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as error:
            log.warning("cannot raise the descriptor limit", extra={"error": str(error)})
    return soft


def descriptor_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1_048_576


def connection_cap(limit: int, rtp_ports: int, reserve: int) -> int:
    """How many TCP/TLS connections may be open at once with `limit` descriptors, keeping
    `rtp_ports` (one socket per port of the RTP range) and `reserve` more free."""
    cap = limit - rtp_ports - reserve
    floor = limit // _MIN_SHARE
    if cap < floor:
        # The limit cannot hold the whole RTP range anyway: SIP keeps a quarter, RTP the rest.
        log.warning(
            "descriptor limit below what the RTP range needs",
            extra={"limit": limit, "rtp_ports": rtp_ports, "reserve": reserve},
        )
        return max(floor, 1)
    return cap
