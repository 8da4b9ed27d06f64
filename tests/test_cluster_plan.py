"""`vpbx run --nodes N`'s plan: ports, RTP slices, Kamailio's script (vpbx.cluster)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vpbx.cluster import (
    NODE_PORT_OFFSET,
    dispatcher_list,
    kamailio_binary,
    kamailio_config,
    node_count,
    node_state_command,
    plan_cluster,
)
from vpbx.settings import Settings


def settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(data_dir=tmp_path, **changes)  # type: ignore[arg-type]


def test_nodes_get_ports_rtp_slices_and_names_of_their_own(tmp_path: Path) -> None:
    plan = plan_cluster(settings(tmp_path, sip_port=5060, metrics_port=8081), 3)
    ports = [n.sip_port for n in plan.nodes]
    assert ports == [5060 + NODE_PORT_OFFSET + i for i in range(3)]
    # node 1 keeps the single-node status port and socket: the API finds it as before
    assert plan.nodes[0].metrics_port == 8081
    assert plan.nodes[0].notify_socket == (tmp_path / "switch.sock").resolve()
    assert len({n.metrics_port for n in plan.nodes}) == 3
    assert len({n.notify_socket for n in plan.nodes}) == 3
    assert not {n.metrics_port for n in plan.nodes} & set(ports)
    slices = [(n.rtp_port_min, n.rtp_port_max) for n in plan.nodes]
    for (low, high), (next_low, _) in itertools.pairwise(slices):
        assert low % 2 == 0
        assert low < high < next_low
    assert slices[0][0] == 20000
    assert slices[-1][1] <= 30000
    # each node's environment: its own SIP port (its node name follows), no TLS, Kamailio
    # believed as front proxy
    env = plan.nodes[1].environment(settings(tmp_path), plan.front)
    assert env["VPBX_SIP_PORT"] == str(ports[1])
    assert env["VPBX_SIP_TLS_PORT"] == "0"
    assert env["VPBX_FRONT_PROXIES"] == "127.0.0.1:5060"
    assert env["VPBX_NODES"] == "1"  # a node does not start a cluster of its own


def test_a_range_too_small_to_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too small for 4 nodes"):
        plan_cluster(settings(tmp_path, rtp_port_min=20000, rtp_port_max=20300), 4)


def test_zero_nodes_means_one_per_core(tmp_path: Path) -> None:
    assert node_count(settings(tmp_path, nodes=0)) == len(os.sched_getaffinity(0))
    assert node_count(settings(tmp_path, nodes=3)) == 3


def test_the_dispatcher_list_names_every_node(tmp_path: Path) -> None:
    plan = plan_cluster(settings(tmp_path, sip_host="127.0.0.1", sip_port=7000), 2)
    assert dispatcher_list(plan) == "1 sip:127.0.0.1:7010 0 0\n1 sip:127.0.0.1:7011 0 0\n"
    command = node_state_command(plan, plan.nodes[1], "ip")
    assert command is not None
    assert command[-3:] == ["ip", "1", "sip:127.0.0.1:7011"]


def test_kamailio_accepts_the_script(tmp_path: Path) -> None:
    """Kamailio's own check of the script (`kamailio -c`), for a wildcard and a set address."""
    binary = kamailio_binary()
    assert binary is not None, "kamailio is installed by `make deps-test` (debian-test.txt)"
    for host in ("0.0.0.0", "127.0.0.1"):
        plan = plan_cluster(settings(tmp_path, sip_host=host, sip_port=7000), 2)
        plan.workdir.mkdir(parents=True, exist_ok=True)
        (plan.workdir / "dispatcher.list").write_text(dispatcher_list(plan))
        config = plan.workdir / "kamailio.cfg"
        text = kamailio_config(plan)
        config.write_text(text)
        done = subprocess.run(
            [binary, "-c", "-f", str(config)], capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
        # the script strips a sender's own X-Vpbx-Source before naming the sender itself
        assert text.index('remove_hf("X-Vpbx-Source")') < text.index("append_hf(")


def test_several_nodes_without_redis_are_refused_in_words(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VPBX_DATA_DIR": str(tmp_path),
        "VPBX_REDIS_URL": "",
        "VPBX_GENERATE_SYSTEM_MESSAGES": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", "vpbx", "run", "--nodes", "2"],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr.decode(errors="replace")[-2000:]
    assert "VPBX_REDIS_URL" in done.stderr.decode()


def test_a_node_that_cannot_start_is_started_again_only_every_few_seconds(
    tmp_path: Path,
) -> None:
    """A node exiting at once (a port in use, a bad setting) is restarted, but not in a loop."""
    import threading

    from vpbx.supervisor import RESTART_SECONDS, Supervisor

    supervisor = Supervisor(
        settings(tmp_path), command=["/bin/sh", "-c", "exit 3", "--"]
    )  # what follows ("run --only switch") goes to the shell as $0…
    supervisor.plan = plan_cluster(settings(tmp_path), 2)
    node = supervisor.plan.nodes[1]
    starts: list[float] = []
    spawn = supervisor._spawn_node

    def counted(plan_node: object) -> None:
        starts.append(time.monotonic())
        spawn(node)

    supervisor._spawn_node = counted  # type: ignore[method-assign]
    supervisor._spawn_node(node)
    stopper = threading.Timer(RESTART_SECONDS + 1.5, lambda: setattr(supervisor, "_stopping", True))
    stopper.start()
    try:
        assert supervisor._watch() == 0
    finally:
        stopper.cancel()
        supervisor.stop()
    # the first start, then one more after RESTART_SECONDS; never a restart every poll
    assert len(starts) == 2, starts
    assert starts[1] - starts[0] >= RESTART_SECONDS - 0.1
