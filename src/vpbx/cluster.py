"""`vpbx run --nodes N`: N switch processes behind Kamailio on one machine (issue 17).

Kamailio (Debian `kamailio`, its dispatcher module) owns the public SIP port; each switch node
listens on a port of its own (`NODE_PORT_OFFSET` above it), with its own status port, its own
slice of the RTP ports and its own name in the database. What the plan decides, and why:

* a new request (INVITE, REGISTER, OPTIONS, …) goes to a node chosen by a hash of its Call-ID,
  so a phone's refreshes and a call's retransmissions land on the same node; a node that does
  not answer within `FAILOVER_MS` (no 100 Trying) or answers 503 is skipped and the next one
  takes the request; the dispatcher pings every node with OPTIONS each second and leaves out
  the ones that stopped answering (a killed node is out within ~2 s), and takes a node back
  as soon as it answers again (a restarted node, or one added to the list);
* Kamailio adds `X-Vpbx-Source` (the sender it saw) after removing any the sender put there;
  the nodes believe it from Kamailio's address only (`VPBX_FRONT_PROXIES`,
  `vpbx.switch.front_proxy`): trunks and lines' allowed addresses keep working;
* a node's request to a phone goes through Kamailio, where the phone registered (its binding's
  source), and on to the Request-URI: a phone is rung from any node;
* dialogs are not record-routed: a call's later requests go to the node's own Contact, so
  Kamailio holds no call state and a restarted Kamailio loses no call;
* the nodes share the database and Redis (``VPBX_REDIS_URL``): registrations, the
  distribution's state and one FIFO queue (QUE-2), configuration news.

Node 1 keeps the single-node defaults (status port, configuration socket, live feed), so the
API finds it as before. SIP over TLS is not offered in this mode (Kamailio here has no TLS).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vpbx.settings import Settings

__all__ = [
    "ClusterPlan",
    "NodePlan",
    "dispatcher_list",
    "kamailio_binary",
    "kamailio_command",
    "kamailio_config",
    "node_count",
    "node_state_command",
    "plan_cluster",
]

NODE_PORT_OFFSET = 10
#: node i's status port (i > 1) is this far above VPBX_METRICS_PORT, plus i - 1
STATUS_PORT_OFFSET = 100
FAILOVER_MS = 5000
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
#: the dispatcher's set of the switch nodes
NODE_SET = 1


@dataclass(frozen=True, slots=True)
class NodePlan:
    index: int  # 1-based
    sip_port: int
    metrics_port: int
    notify_socket: Path
    rtp_port_min: int
    rtp_port_max: int
    core: int | None  # the CPU the node is pinned to, when there are enough

    def environment(self, settings: Settings, front: str) -> dict[str, str]:
        """What this node's `vpbx run --only switch` gets on top of the supervisor's
        environment."""
        return {
            "VPBX_SIP_PORT": str(self.sip_port),
            "VPBX_SIP_TLS_PORT": "0",
            "VPBX_METRICS_PORT": str(self.metrics_port),
            "VPBX_NOTIFY_SOCKET": str(self.notify_socket),
            "VPBX_RTP_PORT_MIN": str(self.rtp_port_min),
            "VPBX_RTP_PORT_MAX": str(self.rtp_port_max),
            "VPBX_FRONT_PROXIES": front,
            "VPBX_NODES": "1",
        }


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    nodes: tuple[NodePlan, ...]
    sip_host: str
    sip_port: int
    node_host: str  # where Kamailio reaches the nodes
    workdir: Path

    @property
    def front(self) -> str:
        """The address the nodes see Kamailio's requests come from."""
        host = self.node_host if self.sip_host in ("", "0.0.0.0", "::") else self.sip_host
        return f"{host}:{self.sip_port}"


def node_count(settings: Settings) -> int:
    """`nodes` = 0 means one per core the process may run on."""
    if settings.nodes:
        return settings.nodes
    return max(1, len(os.sched_getaffinity(0)))


def plan_cluster(settings: Settings, count: int) -> ClusterPlan:
    """Ports, RTP slices and cores of `count` nodes; the RTP range is split evenly."""
    span = settings.rtp_port_max - settings.rtp_port_min + 1
    share = span // count
    if share < 100:
        raise ValueError(f"the RTP range ({span} ports) is too small for {count} nodes")
    cores = sorted(os.sched_getaffinity(0))
    data = settings.data_dir.resolve()
    nodes = []
    for i in range(count):
        low = settings.rtp_port_min + i * share
        # RTP ports come in even/odd pairs: each slice starts even
        low += low % 2
        nodes.append(
            NodePlan(
                index=i + 1,
                sip_port=settings.sip_port + NODE_PORT_OFFSET + i,
                metrics_port=settings.metrics_port
                if i == 0
                else settings.metrics_port + STATUS_PORT_OFFSET + i,
                notify_socket=settings.notify_socket_path().resolve()
                if i == 0
                else data / f"switch-{i + 1}.sock",
                rtp_port_min=low,
                rtp_port_max=low + share - 2,
                core=cores[i] if count <= len(cores) else None,
            )
        )
    host = settings.sip_host
    node_host = "127.0.0.1" if host in ("", "0.0.0.0") else ("::1" if host == "::" else host)
    return ClusterPlan(tuple(nodes), host, settings.sip_port, node_host, data / "kamailio")


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def dispatcher_list(plan: ClusterPlan) -> str:
    """The dispatcher's list file: set, destination, flags (0), priority."""
    return "".join(
        f"{NODE_SET} sip:{_uri_host(plan.node_host)}:{node.sip_port} 0 0\n" for node in plan.nodes
    )


def kamailio_config(plan: ClusterPlan, modules: str = KAMAILIO_MODULES) -> str:
    """Kamailio's script for the plan (see the module's doc for what it does)."""
    if plan.sip_host in ("", "0.0.0.0", "::"):
        listen = f"port={plan.sip_port}\n"
    else:
        host = _uri_host(plan.sip_host)
        listen = f"listen=udp:{host}:{plan.sip_port}\nlisten=tcp:{host}:{plan.sip_port}\n"
    workdir = plan.workdir
    return _CONFIG.format(
        listen=listen,
        modules=modules,
        dispatcher=workdir / "dispatcher.list",
        ctl=workdir / "kamailio.ctl",
        set=NODE_SET,
        failover=FAILOVER_MS,
        ping_from=f"sip:kamailio@{_uri_host(plan.node_host)}",
    )


def kamailio_binary() -> str | None:
    found = shutil.which("kamailio") or "/usr/sbin/kamailio"
    return found if Path(found).exists() else None


def node_state_command(plan: ClusterPlan, node: NodePlan, state: str) -> list[str] | None:
    """`kamcmd` setting a node's state in the dispatcher: "ip" (out, probed: back in as soon
    as it answers a ping) or "ap" (in, probed); None without kamcmd."""
    binary = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
    if not Path(binary).exists():
        return None
    uri = f"sip:{_uri_host(plan.node_host)}:{node.sip_port}"
    ctl = f"unix:{plan.workdir / 'kamailio.ctl'}"
    return [binary, "-s", ctl, "dispatcher.set_state", state, str(NODE_SET), uri]


def kamailio_command(binary: str, plan: ClusterPlan) -> list[str]:
    """Foreground, logging to stderr; 256 MB shared memory (each transaction a node is slow
    to take is kept up to `FAILOVER_MS` with its retransmissions: 64 MB ran out at 50 calls/s
    with a node killed) and 16 MB private per process."""
    config = str(plan.workdir / "kamailio.cfg")
    return [binary, "-f", config, "-DD", "-E", "-m", "256", "-M", "16"]


_CONFIG = """#!KAMAILIO
# Written by `vpbx run --nodes N` at every start: edits are overwritten (vpbx.cluster).
debug=1
log_stderror=yes
memdbg=5
memlog=5
children=2
tcp_children=2
auto_aliases=no
{listen}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "ctl.so"
loadmodule "dispatcher.so"
loadmodule "xlog.so"

modparam("ctl", "binrpc", "unix:{ctl}")
# no 100 Trying (or final answer) from a node within this time: the next node takes the call
modparam("tm", "fr_timer", {failover})
modparam("tm", "fr_inv_timer", 180000)
modparam("dispatcher", "list_file", "{dispatcher}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_ping_from", "{ping_from}")
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_reply_codes", "class=2")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (ds_is_from_list("{set}")) {{
        # a node's request to a phone (through where the phone registered): on to the R-URI
        if (!t_relay()) {{
            sl_reply_error();
        }}
        exit;
    }}
    # nobody but this proxy names a request's sender
    remove_hf("X-Vpbx-Source");
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    t_check_trans();
    if (has_totag()) {{
        # within a dialog: the node's Contact is the Request-URI
        if (!t_relay()) {{
            sl_reply_error();
        }}
        exit;
    }}
    append_hf("X-Vpbx-Source: $pr:$si:$sp\\r\\n");
    if (!ds_select_dst("{set}", "0")) {{
        sl_send_reply("503", "Service Unavailable (no switch node)");
        exit;
    }}
    t_on_failure("NEXT_NODE");
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

failure_route[NEXT_NODE] {{
    if (t_is_canceled()) {{
        exit;
    }}
    # A node that did not answer at all, or is out of ports: the next one. It is not marked
    # out here: a node slow for a moment would then shift its share onto the others and
    # slow them in turn; the pings (and the supervisor, the moment a node exits) do that.
    if (!(t_branch_timeout() && !t_branch_replied()) && !t_check_status("503")) {{
        exit;
    }}
    xlog("L_WARN", "vpbx: node $du did not take $rm $ci\n");
    if (ds_next_dst()) {{
        t_on_failure("NEXT_NODE");
        t_relay();
        exit;
    }}
    xlog("L_ERR", "vpbx: no node left for $rm $ci\n");
}}
"""
