"""The whole suite runs on the event loop production runs (`vpbx run` uses uvloop).

The policy is set when the suite is collected, so every loop a test makes — pytest-asyncio's,
`asyncio.run` in a helper, the threads serving the API or a live PBX — is a uvloop loop: the
default loop hid behaviour only uvloop has (a `call_at` in the past returns a plain `Handle`)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
import uvloop

asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

# The suite runs as root on the host's network: a switch it starts (in process or `vpbx run`)
# must not put kernel RTP rules into the host's ruleset. The kernel path is tested in network
# namespaces of its own (tests/media/test_kernel_*.py), which build their forwarder directly.
os.environ.setdefault("VPBX_KERNEL_RTP", "off")

#: modules whose import means a test drives real SIP peers (SIPp, baresip, linphonec) or
#: a live PBX
_PEER_IMPORT = re.compile(
    r"^from tests\.(peers\.(baresip|linphone|sipp|trunk_caller|rtp_capture|rtp_pcap)"
    r"|switch\.harness)"
    r"|^from tests\.switch\.(observe|scripts) ",
    re.MULTILINE,
)


#: the cabinet's tests in Chromium: Playwright's sync API keeps an event loop running in the
#: thread that used it, so no other module's `asyncio.run` may follow in that process
_BROWSER_DIR = Path(__file__).parent / "web"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of modules that use real peers are marked `peers`, so `-m "not peers"` is the
    fast set a developer runs while working (the whole suite still runs in `make test`); the
    browser tests are also `browser`, run in processes of their own (see the Makefile)."""
    verdicts: dict[Path, bool] = {}
    for item in items:
        path = item.path
        if path not in verdicts:
            verdicts[path] = bool(_PEER_IMPORT.search(path.read_text(encoding="utf-8")))
        if path.is_relative_to(_BROWSER_DIR) and path.name.startswith("test_"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.peers)
        elif verdicts[path]:
            item.add_marker(pytest.mark.peers)
