"""Kernel RTP forwarding with the real nft, in a network namespace of each test's own (the
host's ruleset is never touched): audio of a flow goes through the kernel and never reaches
vpbx's sockets while events still do, a removed flow hands the packets back, a crashed run's
table is cleaned at start, a burst of calls is one transaction, and without nft or without
CAP_NET_ADMIN the forwarder stays off and says why."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vpbx.bench.netns import network_namespace
from vpbx.media.kernel_rtp import FlowState, KernelForwarder
from vpbx.media.kernel_rtp_rules import (
    FlowPair,
    Stream,
    add_script,
    remove_script,
    setup_script,
    table_name,
)

PORTS = (20000, 29999)
HOST = "127.0.0.1"
EVENT_PT = 101
T = table_name(1)
#: what our sockets send to the phones: the kernel continues these streams (65530: it wraps)
A_STREAM = Stream(0xAAAA_0001, 100)
B_STREAM = Stream(0xBBBB_0002, 65530)


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace("vpbxt") as name:
        yield name


def udp(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, port))
    sock.settimeout(1.0)
    return sock


def rtp(pt: int, seq: int, ssrc: int = 0x1234, marker: bool = False) -> bytes:
    payload = b"\x01\x0a\x00\xa0" if pt == EVENT_PT else b"\xff" * 160
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, seq * 160, ssrc) + payload


def drain(sock: socket.socket) -> list[tuple[bytes, tuple[str, int]]]:
    got = []
    sock.settimeout(0.2)
    try:
        while True:
            got.append(sock.recvfrom(2048))
    except TimeoutError:
        return got


class Call:
    """Two phones and vpbx's two sockets of a bridged call, in the namespace."""

    def __init__(self, base: int) -> None:
        self.phone_a, self.phone_b = udp(40000 + base), udp(40002 + base)
        self.our_a, self.our_b = udp(20000 + base), udp(20002 + base)
        self.pair = FlowPair(
            self.phone_a.getsockname(),
            self.our_a.getsockname(),
            self.our_b.getsockname(),
            self.phone_b.getsockname(),
            0,
            A_STREAM,
            B_STREAM,
        )

    def close(self) -> None:
        for sock in (self.phone_a, self.phone_b, self.our_a, self.our_b):
            sock.close()


def nft_list() -> str:
    return subprocess.run(
        ["nft", "list", "ruleset"], check=True, capture_output=True, text=True
    ).stdout


async def test_audio_goes_through_the_kernel_and_events_reach_vpbx(netns: str) -> None:
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await forwarder.start(), forwarder.reason
    call = Call(0)
    installed: list[bool] = []
    flow = forwarder.install(call.pair, installed.append)
    assert flow is not None
    await forwarder.settled()
    assert installed == [True]
    assert flow.state is FlowState.ACTIVE
    for seq in range(50):
        call.phone_a.sendto(rtp(0, seq), call.our_a.getsockname())
        call.phone_b.sendto(rtp(0, seq, ssrc=0x5678), call.our_b.getsockname())
    call.phone_a.sendto(rtp(EVENT_PT, 50, marker=True), call.our_a.getsockname())
    at_b, at_a = drain(call.phone_b), drain(call.phone_a)
    assert len(at_b) == 50
    assert len(at_a) == 50
    # from vpbx's other socket, header untouched (the peer sees the other phone's stream)
    assert {addr for _, addr in at_b} == {call.our_b.getsockname()}
    assert {addr for _, addr in at_a} == {call.our_a.getsockname()}
    # the phone hears our stream go on: our SSRC, our numbers (wrapping), the payload as sent
    headers = [struct.unpack_from("!BBHII", data) for data, _ in at_b]
    assert [h[2] for h in headers] == [(B_STREAM.sequence + i) & 0xFFFF for i in range(50)]
    assert {h[4] for h in headers} == {B_STREAM.ssrc}
    assert [h[3] for h in headers] == [seq * 160 for seq in range(50)]  # the phone's clock
    assert [data[12:] for data, _ in at_b] == [rtp(0, seq)[12:] for seq in range(50)]
    # vpbx's sockets saw the event packet and nothing of the audio
    assert drain(call.our_a) == [(rtp(EVENT_PT, 50, marker=True), call.phone_a.getsockname())]
    assert drain(call.our_b) == []
    await forwarder.poll()
    assert flow.packets == (50, 50)
    assert flow.last_growth is not None
    await forwarder.close()
    assert "vpbx_rtp" not in nft_list()
    call.close()


async def test_a_removed_flow_hands_the_packets_back_to_vpbx(netns: str) -> None:
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await forwarder.start(), forwarder.reason
    call = Call(0)
    flow = forwarder.install(call.pair)
    assert flow is not None
    await forwarder.settled()
    call.phone_a.sendto(rtp(0, 1), call.our_a.getsockname())
    assert len(drain(call.phone_b)) == 1
    forwarder.remove(flow)
    await forwarder.settled()
    assert flow.state is FlowState.REMOVED
    call.phone_a.sendto(rtp(0, 2), call.our_a.getsockname())
    assert drain(call.our_a) == [(rtp(0, 2), call.phone_a.getsockname())]
    assert drain(call.phone_b) == []
    # the same sockets can be forwarded again (a call back in the plain state)
    again = forwarder.install(call.pair)
    assert again is not None
    await forwarder.settled()
    assert again.state is FlowState.ACTIVE
    await forwarder.close()
    call.close()


async def test_a_flow_removed_while_queued_is_never_installed(netns: str) -> None:
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await forwarder.start(), forwarder.reason
    call = Call(0)
    told: list[bool] = []
    flow = forwarder.install(call.pair, told.append)
    assert flow is not None
    forwarder.remove(flow)
    await forwarder.settled()
    assert flow.state is FlowState.REMOVED
    assert told == []
    assert forwarder.transactions == 0
    assert "goto" not in nft_list()
    await forwarder.close()
    call.close()


async def test_start_cleans_the_table_a_crashed_run_left(netns: str) -> None:
    crashed = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await crashed.start(), crashed.reason
    call = Call(0)
    assert crashed.install(call.pair) is not None
    await crashed.settled()
    assert "goto" in nft_list()
    # the run dies: its worker stops and nothing removes the table
    assert crashed._worker is not None
    crashed._worker.cancel()
    call.phone_a.sendto(rtp(0, 1), call.our_a.getsockname())
    assert len(drain(call.phone_b)) == 1  # the leftover still steals the audio
    restarted = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await restarted.start(), restarted.reason
    ruleset = nft_list()
    assert "vpbx_rtp" in ruleset
    assert "goto" not in ruleset
    call.phone_a.sendto(rtp(0, 2), call.our_a.getsockname())
    assert drain(call.our_a) == [(rtp(0, 2), call.phone_a.getsockname())]
    await restarted.close()
    call.close()


async def test_a_burst_of_calls_is_one_transaction_and_a_refused_flow_spares_the_others(
    netns: str,
) -> None:
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await forwarder.start(), forwarder.reason
    calls = [Call(4 * i) for i in range(10)]
    flows = [forwarder.install(call.pair) for call in calls]
    await forwarder.settled()
    assert forwarder.transactions == 1
    assert all(f is not None and f.state is FlowState.ACTIVE for f in flows)
    # the same sockets twice: nft refuses the map element, the batch fails as a whole
    more = [Call(100), Call(104)]
    duplicate = forwarder.install(calls[0].pair)
    fresh = [forwarder.install(call.pair) for call in more]
    await forwarder.settled()
    assert duplicate is not None
    assert duplicate.state is FlowState.FAILED
    assert duplicate.error
    assert all(f is not None and f.state is FlowState.ACTIVE for f in fresh)
    for call in more:
        call.phone_a.sendto(rtp(0, 1), call.our_a.getsockname())
        assert len(drain(call.phone_b)) == 1
    await forwarder.close()
    for call in calls + more:
        call.close()


async def test_without_nft_calls_stay_in_userspace_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    with caplog.at_level(logging.WARNING, logger="vpbx.media.kernel_rtp"):
        assert not await forwarder.start()
    assert forwarder.reason == "nft not found"
    assert [r.reason for r in caplog.records] == ["nft not found"]  # type: ignore[attr-defined]
    pair = FlowPair((HOST, 1), (HOST, 2), (HOST, 3), (HOST, 4), 0, A_STREAM, B_STREAM)
    assert forwarder.install(pair) is None
    await forwarder.close()


async def test_without_cap_net_admin_calls_stay_in_userspace_with_a_reason(
    netns: str, caplog: pytest.LogCaptureFixture
) -> None:
    # a real refusal by the kernel: nft run without CAP_NET_ADMIN
    command = ("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "nft")
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1], command=command)
    with caplog.at_level(logging.WARNING, logger="vpbx.media.kernel_rtp"):
        assert not await forwarder.start()
    assert "Operation not permitted" in forwarder.reason
    assert len(caplog.records) == 1
    assert (
        forwarder.install(
            FlowPair((HOST, 1), (HOST, 2), (HOST, 3), (HOST, 4), 0, A_STREAM, B_STREAM)
        )
        is None
    )
    assert "vpbx_rtp" not in nft_list()
    await forwarder.close()


async def test_off_never_runs_nft() -> None:
    forwarder = KernelForwarder(mode="off", port_min=PORTS[0], port_max=PORTS[1], command=("x",))
    assert not await forwarder.start()
    assert forwarder.reason == "VPBX_KERNEL_RTP=off"


hosts = st.ip_addresses(v=4).filter(lambda a: not a.is_unspecified).map(str)
addresses = st.tuples(hosts, st.integers(1, 65535))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.builds(
        FlowPair,
        addresses,
        addresses,
        addresses,
        addresses,
        st.integers(0, 127),
        st.builds(Stream, st.integers(0, 2**32 - 1), st.integers(0, 65535)),
        st.builds(Stream, st.integers(0, 2**32 - 1), st.integers(0, 65535)),
    )
)
def test_nft_accepts_and_removes_the_rules_of_any_pair(netns: str, pair: FlowPair) -> None:
    a, b = pair.directions
    assume(a.name != b.name)  # one socket on both legs: a bridge never has that
    assume(a.key != b.key)

    def nft(script: str) -> None:
        done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    nft(setup_script(T, 1, 65535))
    nft(add_script(T, pair))
    listed = nft_list()
    assert f"udp dport set {a.to[1]}" in listed
    nft(remove_script(T, pair))
    assert "goto" not in nft_list()


async def test_a_second_node_on_the_host_keeps_the_first_nodes_flows(netns: str) -> None:
    first = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await first.start(), first.reason
    call = Call(0)
    assert first.install(call.pair) is not None
    await first.settled()
    second = KernelForwarder(port_min=30000, port_max=30999)
    assert await second.start(), second.reason
    assert second.table != first.table
    call.phone_a.sendto(rtp(0, 1), call.our_a.getsockname())
    assert len(drain(call.phone_b)) == 1
    await second.close()
    await first.close()
    call.close()


async def test_with_a_poll_interval_the_counters_follow_by_themselves(netns: str) -> None:
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1], poll_interval=0.05)
    assert await forwarder.start(), forwarder.reason
    call = Call(0)
    flow = forwarder.install(call.pair)
    assert flow is not None
    await forwarder.settled()
    for seq in range(7):
        call.phone_b.sendto(rtp(0, seq), call.our_b.getsockname())
    assert len(drain(call.phone_a)) == 7
    await asyncio.sleep(0.2)
    assert flow.packets == (0, 7)
    assert flow.last_growth is not None
    await forwarder.close()
    call.close()


PHONE = """
import socket, struct, sys
role, here, there = sys.argv[1], sys.argv[2], sys.argv[3]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((here, 40000))
sock.settimeout(2.0)
if role == "send":
    for seq in range(20):
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234)
        sock.sendto(header + bytes(160), (there, 20000))
else:
    count = 0
    try:
        while True:
            sock.recvfrom(2048)
            count += 1
    except TimeoutError:
        pass
    print(count)
"""


def _link(pbx: str, phone: str, device: str, pbx_ip: str, phone_ip: str) -> None:
    """A veth link from the switch's namespace to a phone's, the phone routed through it."""
    run = ["ip", "link", "add", device, "netns", pbx, "type", "veth", "peer", "name", "eth0"]
    subprocess.run([*run, "netns", phone], check=True)
    for ns, dev, ip in ((pbx, device, pbx_ip), (phone, "eth0", phone_ip)):
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
    subprocess.run(["ip", "-n", phone, "route", "add", "default", "via", pbx_ip], check=True)


def test_phones_on_the_network_need_forwarding_and_accept_local(netns: str) -> None:
    """What the admin guide asks for phones on real interfaces: the rewritten packet is
    forwarded, and its source is the box's own address."""
    # the phones' namespaces are only entered by their processes (`ip netns exec`)
    phones = [f"vpbxt-a{netns[-8:]}", f"vpbxt-b{netns[-8:]}"]
    for name in phones:
        subprocess.run(["ip", "netns", "add", name], check=True)
    loop = asyncio.new_event_loop()
    ours: list[socket.socket] = []
    try:
        _link(netns, phones[0], "va", "10.9.1.1", "10.9.1.2")
        _link(netns, phones[1], "vb", "10.9.2.1", "10.9.2.2")
        ours = [udp_on("10.9.1.1", 20000), udp_on("10.9.1.1", 20002)]
        forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
        assert loop.run_until_complete(forwarder.start()), forwarder.reason
        pair = FlowPair(
            ("10.9.1.2", 40000), ("10.9.1.1", 20000), ("10.9.1.1", 20002),
            ("10.9.2.2", 40000), 0, A_STREAM, B_STREAM,
        )  # fmt: skip
        assert forwarder.install(pair) is not None
        loop.run_until_complete(forwarder.settled())

        def call() -> int:
            listener = subprocess.Popen(
                ["ip", "netns", "exec", phones[1], sys.executable, "-c", PHONE,
                 "recv", "10.9.2.2", "-"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(0.3)
            subprocess.run(
                ["ip", "netns", "exec", phones[0], sys.executable, "-c", PHONE,
                 "send", "10.9.1.2", "10.9.1.1"],
                check=True,
            )  # fmt: skip
            out, _ = listener.communicate(timeout=10)
            return int(out)

        sysctl = ["sysctl", "-q", "-w"]
        assert call() == 0  # neither: the packet is not forwarded
        subprocess.run([*sysctl, "net.ipv4.ip_forward=1"], check=True)
        assert call() == 0  # a martian: its source is our own address
        subprocess.run([*sysctl, "net.ipv4.conf.va.accept_local=1"], check=True)
        assert call() == 20
        loop.run_until_complete(forwarder.close())
    finally:
        loop.close()
        for sock in ours:
            sock.close()
        for name in phones:
            subprocess.run(["ip", "netns", "delete", name], check=True)


def udp_on(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    return sock


def failing_nft(tmp_path: Path, failures: int, when: str) -> tuple[str, Path]:
    """An nft that fails the first `failures` scripts containing `when` (as a timeout or a
    refusal would, before anything is committed), then is nft; and the file counting the
    failures left."""
    left = tmp_path / "failures_left"
    left.write_text(str(failures))
    wrapper = tmp_path / "nft"
    wrapper.write_text(
        "#!/bin/sh\n"
        "script=$(cat)\n"
        f"left=$(cat {left})\n"
        f'case "$script" in *"{when}"*)\n'
        '  if [ "$left" -gt 0 ]; then\n'
        f"    echo $((left - 1)) > {left}\n"
        '    echo "simulated failure" >&2\n'
        "    exit 1\n"
        "  fi;;\n"
        "esac\n"
        'printf \'%s\\n\' "$script" | exec nft "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper), left


async def test_a_failed_unhooking_is_retried_until_the_rule_is_gone(
    netns: str, tmp_path: Path
) -> None:
    # forgotten, the live entry would send a later call's audio on these ports to this
    # call's other phone
    command, left = failing_nft(tmp_path, 1, "delete element")
    forwarder = KernelForwarder(
        port_min=PORTS[0], port_max=PORTS[1], command=(command,), retry_delay=0.05
    )
    assert await forwarder.start(), forwarder.reason
    call = Call(0)
    removed: list[tuple[int, int]] = []
    flow = forwarder.install(call.pair, on_removed=removed.append)
    assert flow is not None
    await forwarder.settled()
    call.phone_a.sendto(rtp(0, 1), call.our_a.getsockname())
    assert len(drain(call.phone_b)) == 1
    forwarder.remove(flow)
    await forwarder.settled()
    assert left.read_text().strip() == "0"  # the first unhooking did fail
    assert flow.state is FlowState.REMOVED
    assert removed == [(1, 0)]
    assert "goto" not in nft_list()
    call.phone_a.sendto(rtp(0, 2), call.our_a.getsockname())
    assert drain(call.our_a) == [(rtp(0, 2), call.phone_a.getsockname())]
    assert drain(call.phone_b) == []
    # the worker goes on serving
    again = forwarder.install(call.pair)
    assert again is not None
    await forwarder.settled()
    assert again.state is FlowState.ACTIVE
    call.phone_a.sendto(rtp(0, 3), call.our_a.getsockname())
    assert len(drain(call.phone_b)) == 1
    await forwarder.close()
    call.close()


async def test_an_unhooking_that_keeps_failing_rebuilds_the_table(
    netns: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    command, left = failing_nft(tmp_path, 1000, "delete element")
    forwarder = KernelForwarder(
        port_min=PORTS[0], port_max=PORTS[1], command=(command,), retry_delay=0.05
    )
    assert await forwarder.start(), forwarder.reason
    leaving, staying = Call(0), Call(4)
    told: list[str] = []
    flow = forwarder.install(leaving.pair, on_removed=lambda _: told.append("leaving"))
    other = forwarder.install(staying.pair, on_removed=lambda _: told.append("staying"))
    assert flow is not None
    assert other is not None
    await forwarder.settled()
    with caplog.at_level(logging.ERROR, logger="vpbx.media.kernel_rtp"):
        forwarder.remove(flow)
        await forwarder.settled()
    assert left.read_text().strip() == str(1000 - 3)  # three attempts, then the rebuild
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "kernel rtp flow cannot be removed: table rebuilt, every call back to userspace"
    ]
    # both calls are the switch's again, and told so
    assert (flow.state, other.state) == (FlowState.REMOVED, FlowState.REMOVED)
    assert sorted(told) == ["leaving", "staying"]
    assert "goto" not in nft_list()
    for call in (leaving, staying):
        call.phone_a.sendto(rtp(0, 1), call.our_a.getsockname())
        assert drain(call.our_a) == [(rtp(0, 1), call.phone_a.getsockname())]
    # the rebuilt table takes calls
    assert forwarder.available
    again = forwarder.install(staying.pair)
    assert again is not None
    await forwarder.settled()
    assert again.state is FlowState.ACTIVE
    await forwarder.close()
    leaving.close()
    staying.close()


async def test_a_failing_callback_does_not_stop_the_worker(
    netns: str, caplog: pytest.LogCaptureFixture
) -> None:
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await forwarder.start(), forwarder.reason
    first, second = Call(0), Call(4)

    def broken(ok: bool) -> None:
        raise RuntimeError("a bug in the bridge")

    with caplog.at_level(logging.ERROR, logger="vpbx.media.kernel_rtp"):
        flow = forwarder.install(first.pair, broken)
        await forwarder.settled()
    assert flow is not None
    assert flow.state is FlowState.ACTIVE
    assert "on_installed failed" in caplog.text
    told: list[bool] = []
    assert forwarder.install(second.pair, told.append) is not None
    await forwarder.settled()
    assert told == [True]
    assert forwarder._worker is not None
    assert not forwarder._worker.done()
    await forwarder.close()
    first.close()
    second.close()


async def test_a_removal_and_a_reinstallation_of_one_socket_share_a_transaction(
    netns: str,
) -> None:
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1])
    assert await forwarder.start(), forwarder.reason
    call = Call(0)
    flow = forwarder.install(call.pair)
    assert flow is not None
    await forwarder.settled()
    sent = forwarder.transactions
    # the call leaves the plain state and is back before the worker runs
    forwarder.remove(flow)
    again = forwarder.install(call.pair)
    assert again is not None
    await forwarder.settled()
    assert forwarder.transactions == sent + 1
    assert (flow.state, again.state) == (FlowState.REMOVED, FlowState.ACTIVE), again.error
    call.phone_a.sendto(rtp(0, 1), call.our_a.getsockname())
    assert len(drain(call.phone_b)) == 1
    await forwarder.close()
    call.close()
