"""The shared state of distribution on Redis, for several nodes (``VPBX_REDIS_URL``).

Implements `vpbx.scenario.distribution.SharedState`. Every write that must be atomic across
nodes is one Lua script (claim a line with the FIFO check, release, enqueue, dequeue); a
decision's reads are one pipeline (`snapshot`). Keys, under `prefix`:

* ``busy`` (hash phone → lines in use), ``ring:<call>`` (set of phones the call holds a line on)
* ``lastend`` (hash employee → end of his last call), ``held`` (hash phone → waiters)
* ``talk:<scope>|<employee>``, ``offers:<scope>|<employee>``, ``ptalk:<phone>``: sorted sets by
  time (12 h / 30 d windows, pruned on read, so an entry is forgotten exactly after the span)
* ``pct:<scope>`` (hash phone → answered calls), ``turn:<key>``, ``seq`` (counters)
* ``q:<queue>`` and ``pw:<phone>`` (sorted sets of waiters by queue number), ``w:<call>``
  (hash: seq, caller, queue, width, wrapup, phones), ``wa:<call>`` (set of phones ringing for him).
  A queue number is the millisecond the node queued the caller, times 1000, plus ``seq``
  modulo 1000 (callers of one millisecond): the order does not depend on when the script ran
  (two callers that waited out a Redis restart) nor on a counter a restart loses.
* ``own:<node>`` (set of the calls of that node holding a line or a queue place: what its
  restart lets go of, `release_node`)
* ``up:<node>``: that node's lines and queue places are in this Redis. Redis keeps nothing on
  disk here, so a restarted Redis has none: each node keeps what it holds (`_Holdings`) and
  writes it back in one script (`rebuild`) — at once when one of its claims or enqueues finds
  its mark gone, and within WATCH_SECONDS when idle (`start_watch`). The counters of the
  strategies (talk time, offers, percentages, turns, ends of talks) start over.
* ``settle``: set for SETTLE_SECONDS by the first write-back after a restart. Until it expires
  no line is claimed and no caller queued on any node: the nodes not yet written back may hold
  earlier callers (a later caller would take their line) or higher queue numbers (a caller
  queued now would get a lower one). Claims and enqueues wait it out.

Clocks: `now` is POSIX seconds from each node; nodes are expected to be NTP-synchronised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vpbx.scenario.distribution.state import (
    ClaimMode,
    ClaimStatus,
    QueueSpot,
    Snapshot,
    SnapshotRequest,
    WaiterSpec,
    employee_key,
    employee_of,
    phone_key,
)
from vpbx.scenario.distribution.strategies import TALK_WINDOW, WAIT_STATS_WINDOW

__all__ = ["SETTLE_SECONDS", "WATCH_SECONDS", "RedisState"]

log = logging.getLogger("vpbx.services.shared_state_redis")

T = TypeVar("T")

#: how often an idle node looks whether Redis lost its lines and queue places (a restart)
WATCH_SECONDS: Final = 0.25
#: how long distribution pauses after a Redis restart while every node writes back: a node
#: retrying its commands reaches the new Redis within 0.5 s (the backoff's cap), an idle one
#: within WATCH_SECONDS; twice that
SETTLE_SECONDS: Final = 1.0
# A Redis restart takes about a second: commands wait it out (~6 s in all) instead of failing
# the calls that reach a Forward meanwhile.
_RETRY: Final = Retry(ExponentialBackoff(cap=0.5, base=0.02), 16)
_REBUILD_SIGNAL: Final = "rebuild"
_SETTLE_SIGNAL: Final = "settle:"  # followed by the milliseconds left
_REBUILD_TRIES: Final = 3

_CLAIM = """
local p, call, phone = ARGV[1], ARGV[2], ARGV[3]
local lines, mode, now = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local emp, node = ARGV[7], ARGV[8]
if node ~= '' and redis.call('EXISTS', p .. 'up:' .. node) == 0 then return 'rebuild' end
local settle = redis.call('PTTL', p .. 'settle')
if settle > 0 then return 'settle:' .. settle end
local pw = p .. 'pw:' .. phone
if mode == 'fresh' then
  if redis.call('ZCARD', pw) > 0 then return 'queue_held' end
elseif mode == 'queued' then
  local mine = redis.call('ZSCORE', pw, call)
  local earlier
  if mine then
    earlier = redis.call('ZRANGEBYSCORE', pw, '-inf', '(' .. mine)
  else
    earlier = redis.call('ZRANGE', pw, 0, -1)
  end
  local last = tonumber(redis.call('HGET', p .. 'lastend', emp))
  local own = tonumber(redis.call('HGET', p .. 'w:' .. call, 'wrapup')) or 0
  -- the end of the phone's last call may have been written by another node a moment after
  -- this node read its clock: a wrap-up is judged the same way for every waiter, and none
  -- (width 0) is no wrap-up at all, so an earlier waiter never looks "still in wrap-up" to
  -- a later one that is not
  if last ~= nil and own > 0 and last + own > now then return 'queue_held' end
  if #earlier > 0 then
    for _, other in ipairs(earlier) do
      local w = redis.call('HMGET', p .. 'w:' .. other, 'width', 'wrapup')
      local width = tonumber(w[1]) or 1
      local wrapup = tonumber(w[2]) or 0
      local active = p .. 'wa:' .. other
      if redis.call('SCARD', active) < width
        and redis.call('SISMEMBER', active, phone) == 0
        and (last == nil or wrapup <= 0 or last + wrapup <= now) then
        return 'queue_held'
      end
    end
  end
end
local busy = tonumber(redis.call('HGET', p .. 'busy', phone)) or 0
if busy >= lines then return 'line_limit' end
redis.call('HINCRBY', p .. 'busy', phone, 1)
redis.call('SADD', p .. 'ring:' .. call, phone)
if node ~= '' then redis.call('SADD', p .. 'own:' .. node, call) end
if redis.call('EXISTS', p .. 'w:' .. call) == 1 then
  redis.call('SADD', p .. 'wa:' .. call, phone)
end
return 'ok'
"""

_RELEASE = """
local p, call, phone, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('SREM', p .. 'ring:' .. call, phone) == 0 then return 0 end
if redis.call('HINCRBY', p .. 'busy', phone, -1) <= 0 then
  redis.call('HDEL', p .. 'busy', phone)
end
redis.call('SREM', p .. 'wa:' .. call, phone)
if node ~= '' and redis.call('EXISTS', p .. 'ring:' .. call, p .. 'w:' .. call) == 0 then
  redis.call('SREM', p .. 'own:' .. node, call)
end
return 1
"""

_ENQUEUE = """
local p, call, caller, qkey = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local width, wrapup, node, now = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
if node ~= '' and redis.call('EXISTS', p .. 'up:' .. node) == 0 then return 'rebuild' end
local settle = redis.call('PTTL', p .. 'settle')
if settle > 0 then return 'settle:' .. settle end
-- queued already (a repeated request): his number stays, nothing is counted twice
local had = redis.call('HGET', p .. 'w:' .. call, 'seq')
if had then return tonumber(had) end
local seq = math.floor(now * 1000) * 1000 + redis.call('INCR', p .. 'seq') % 1000
if node ~= '' then redis.call('SADD', p .. 'own:' .. node, call) end
local phones = {}
for i = 9, #ARGV do
  phones[#phones + 1] = ARGV[i]
  redis.call('ZADD', p .. 'pw:' .. ARGV[i], seq, call)
  redis.call('HINCRBY', p .. 'held', ARGV[i], 1)
end
redis.call('HSET', p .. 'w:' .. call, 'seq', seq, 'caller', caller, 'qkey', qkey,
  'width', width, 'wrapup', wrapup, 'phones', table.concat(phones, '\\n'))
redis.call('ZADD', p .. 'q:' .. qkey, seq, call)
local ringing = redis.call('SMEMBERS', p .. 'ring:' .. call)
for _, phone in ipairs(ringing) do redis.call('SADD', p .. 'wa:' .. call, phone) end
return seq
"""

_DEQUEUE = """
local p, call, node = ARGV[1], ARGV[2], ARGV[3]
local w = redis.call('HMGET', p .. 'w:' .. call, 'qkey', 'phones')
if not w[1] then return 0 end
redis.call('ZREM', p .. 'q:' .. w[1], call)
for phone in string.gmatch(w[2], '[^\\n]+') do
  redis.call('ZREM', p .. 'pw:' .. phone, call)
  if redis.call('HINCRBY', p .. 'held', phone, -1) <= 0 then
    redis.call('HDEL', p .. 'held', phone)
  end
end
redis.call('DEL', p .. 'w:' .. call, p .. 'wa:' .. call)
if node ~= '' and redis.call('EXISTS', p .. 'ring:' .. call) == 0 then
  redis.call('SREM', p .. 'own:' .. node, call)
end
return 1
"""

# A node's lines and queue places written back into a Redis that lost them (once: `up:<node>`).
# Waiters keep their queue numbers, so the order of the calls that were waiting is the order
# they called in.
_REBUILD = """
local p, node = ARGV[1], ARGV[2]
local up = p .. 'up:' .. node
if redis.call('EXISTS', up) == 1 then return -1 end
local data = cjson.decode(ARGV[3])
-- the first node back starts the pause; the others' write-backs do not lengthen it
redis.call('SET', p .. 'settle', '1', 'PX', tonumber(ARGV[4]), 'NX')
local own = p .. 'own:' .. node
for _, w in ipairs(data['waiters']) do
  local call, seq = w['call'], w['seq']
  for _, phone in ipairs(w['phones']) do
    -- counted only when not there already: the mark can go while the data stays (a key
    -- evicted, deleted by hand), and a second count would hold the phone for good
    if redis.call('ZADD', p .. 'pw:' .. phone, seq, call) == 1 then
      redis.call('HINCRBY', p .. 'held', phone, 1)
    end
  end
  redis.call('HSET', p .. 'w:' .. call, 'seq', seq, 'caller', w['caller'], 'qkey', w['qkey'],
    'width', w['width'], 'wrapup', w['wrapup'], 'phones', table.concat(w['phones'], '\\n'))
  redis.call('ZADD', p .. 'q:' .. w['qkey'], seq, call)
  redis.call('SADD', own, call)
end
for _, line in ipairs(data['lines']) do
  local call, phone = line[1], line[2]
  if redis.call('SADD', p .. 'ring:' .. call, phone) == 1 then
    redis.call('HINCRBY', p .. 'busy', phone, 1)
  end
  redis.call('SADD', own, call)
  if redis.call('EXISTS', p .. 'w:' .. call) == 1 then
    redis.call('SADD', p .. 'wa:' .. call, phone)
  end
end
redis.call('SET', up, '1')
return #data['waiters'] + #data['lines']
"""

# Prune each window, then return its sum (of the numbers after the last '|') and its size.
_WINDOWS = """
local horizon, count = '(' .. ARGV[1], 0
local out = {}
for i = 2, #ARGV do
  local key = ARGV[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', horizon)
  local total = 0
  local members = redis.call('ZRANGE', key, 0, -1)
  for _, m in ipairs(members) do
    total = total + (tonumber(string.match(m, '|([^|]*)$')) or 1)
  end
  out[#out + 1] = tostring(total)
  out[#out + 1] = #members
end
return out
"""


async def _done(value: Awaitable[T] | T) -> T:
    """redis-py types its async commands as `Awaitable[T] | T`; on the async client they await."""
    return await cast(Awaitable[T], value)


class _Materialized:
    """A snapshot read in one pipeline."""

    __slots__ = ("_busy", "_held", "_last", "_offers", "_pct", "_talk")

    def __init__(
        self,
        busy: dict[str, int],
        held: set[str],
        last: dict[str, float],
        talk: dict[str, float],
        offers: dict[str, int],
        pct: dict[str, int],
    ) -> None:
        self._busy, self._held, self._last = busy, held, last
        self._talk, self._offers, self._pct = talk, offers, pct

    def busy(self, phone: str) -> int:
        return self._busy.get(phone, 0)

    def held(self, phone: str) -> bool:
        return phone in self._held

    def last_end(self, employee: str) -> float | None:
        return self._last.get(employee)

    def talk(self, employee: str) -> float:
        return self._talk.get(employee, 0.0)

    def offers(self, employee: str) -> int:
        return self._offers.get(employee, 0)

    def percent_count(self, phone: str) -> int:
        return self._pct.get(phone, 0)


@dataclass(slots=True)
class _Waiter:
    seq: int
    spec: WaiterSpec
    width: int


@dataclass(slots=True)
class _Holdings:
    """What this node's calls hold in the shared state, kept here to write it back."""

    lines: dict[str, set[str]] = field(default_factory=dict)  # call → phones
    waiters: dict[str, _Waiter] = field(default_factory=dict)

    def payload(self) -> str:
        return json.dumps(
            {
                "lines": [[call, phone] for call, phones in self.lines.items() for phone in phones],
                "waiters": [
                    {
                        "call": w.spec.call_id,
                        "seq": w.seq,
                        "caller": w.spec.caller,
                        "qkey": w.spec.queue_key,
                        "width": w.width,
                        "wrapup": repr(w.spec.wrapup_seconds),
                        "phones": list(w.spec.phones),
                    }
                    for w in self.waiters.values()
                ],
            }
        )


class RedisState:
    """`SharedState` on one Redis; the client must decode responses (`decode_responses=True`)."""

    def __init__(
        self,
        client: Redis,
        prefix: str = "vpbx:dist:",
        node: str = "",
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        #: this switch node's name: the calls holding lines or waiting in a queue are kept
        #: under it (``own:<node>``), so its restart can let go of what its crash left
        self.node = node
        self.settle_ms = max(1, round(settle_seconds * 1000))
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._enqueue = client.register_script(_ENQUEUE)
        self._dequeue = client.register_script(_DEQUEUE)
        self._windows = client.register_script(_WINDOWS)
        self._rebuild = client.register_script(_REBUILD)
        self._holdings = _Holdings()
        self._watch: asyncio.Task[None] | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = "vpbx:dist:",
        node: str = "",
        settle_seconds: float = SETTLE_SECONDS,
    ) -> RedisState:
        client = Redis.from_url(
            url,
            decode_responses=True,
            retry=_RETRY,
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        return cls(client, prefix, node, settle_seconds)

    # a restarted Redis ------------------------------------------------------------------

    async def rebuild(self) -> int:
        """Write this node's lines and queue places back if Redis lost them (its mark
        ``up:<node>`` is gone); -1 when they are there. A node without a name has no mark."""
        if not self.node:
            return -1
        restored = await self._rebuild(
            args=[self.prefix, self.node, self._holdings.payload(), self.settle_ms]
        )
        return int(restored)

    async def _written_back(self, script: AsyncScript, args: list[str | int]) -> str | int:
        """Run a claim or enqueue script once this node's state is in Redis and the pause
        after a restart is over (`SETTLE_SECONDS`). ``args[5]``, when `now` is there, is moved
        on by the time waited."""
        rebuilt = 0
        waited = 0.0
        while True:
            reply = await script(args=args)
            if reply == _REBUILD_SIGNAL:
                rebuilt += 1  # Redis may restart again while we write back
                if rebuilt > _REBUILD_TRIES:
                    raise RedisError("shared state: Redis kept losing this node's state")
                self._told_rebuilt(await self.rebuild())
                continue
            if isinstance(reply, str) and reply.startswith(_SETTLE_SIGNAL):
                pause = int(reply[len(_SETTLE_SIGNAL) :]) / 1000
                await asyncio.sleep(pause)
                waited += pause
                if script is self._claim:
                    args[5] = repr(float(args[5]) + pause)
                continue
            if waited:
                log.info("shared state: waited for the nodes to write back", extra={"s": waited})
            return cast(str | int, reply)

    def start_watch(self, interval: float = WATCH_SECONDS) -> None:
        """Look every `interval` whether Redis lost this node's state, and write it back."""
        if self._watch is None and self.node:
            self._watch = asyncio.create_task(self._watch_loop(interval), name="redis-rebuild")

    async def _watch_loop(self, interval: float) -> None:
        unreachable = False
        while True:
            await asyncio.sleep(interval)
            try:
                restored = await self.rebuild()
            except (RedisError, OSError) as error:
                if not unreachable:
                    log.error("shared state: Redis unreachable", extra={"error": str(error)})
                unreachable = True
                continue
            if unreachable:
                log.info("shared state: Redis reachable again")
                unreachable = False
            self._told_rebuilt(restored)

    def _told_rebuilt(self, restored: int) -> None:
        if restored < 0:  # another task of this node wrote it back first
            return
        log.warning(
            "shared state rebuilt: Redis had lost this node's lines and queue places; "
            "distribution pauses until every node wrote back",
            extra={
                "settle_ms": self.settle_ms,
                "entries": restored,
                "calls_ringing_or_talking": len(self._holdings.lines),
                "callers_waiting": len(self._holdings.waiters),
            },
        )

    async def release_node(self) -> int:
        """Let go of every line and queue place this node's calls held: run at the node's
        start, before it takes a call. A node killed mid-call would otherwise leave its
        callers' places at the head of the queues (every later caller held behind them) and
        its lines busy, for good. Returns how many calls were let go."""
        if not self.node:
            return 0
        own = self._key(f"own:{self.node}")
        calls: Sequence[str] = list(await _done(self.client.smembers(own)))
        for call_id in calls:
            phones: Sequence[str] = list(
                await _done(self.client.smembers(self._key(f"ring:{call_id}")))
            )
            for phone in phones:
                await self.release(call_id, phone)
            await self.dequeue(call_id)
        await self.client.delete(own)
        await self.client.set(self._key(f"up:{self.node}"), "1")
        return len(calls)

    async def aclose(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await self.client.aclose()

    async def clear(self) -> None:
        """Delete every key under the prefix (tests; a fresh installation)."""
        batch: list[str] = []
        async for key in self.client.scan_iter(match=f"{self.prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await self.client.delete(*batch)
                batch.clear()
        if batch:
            await self.client.delete(*batch)

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # reads ------------------------------------------------------------------------------

    async def snapshot(self, request: SnapshotRequest) -> Snapshot:
        if not (request.lines or request.wrapup or request.scope or request.percent_scope):
            return _Materialized({}, set(), {}, {}, {}, {})
        account = request.account_id
        phones: list[str] = []
        employees: list[str] = []
        for target in request.targets:
            employees.append(employee_key(account, target.employee_id))
            phones.extend(phone_key(account, target.employee_id, p.phone_id) for p in target.phones)
        pipe = self.client.pipeline(transaction=False)
        if request.lines:
            pipe.hmget(self._key("busy"), phones)
            pipe.hmget(self._key("held"), phones)
        if request.wrapup:
            pipe.hmget(self._key("lastend"), employees)
        if request.percent_scope is not None:
            pipe.hmget(self._key(f"pct:{request.percent_scope}"), phones)
        if request.scope is not None:
            keys = [self._key(f"talk:{request.scope}|{e}") for e in employees]
            keys += [self._key(f"offers:{request.scope}|{e}") for e in employees]
            await self._windows(args=[request.now - TALK_WINDOW, *keys], client=pipe)
        replies = iter(await pipe.execute())
        busy: dict[str, int] = {}
        held: set[str] = set()
        last: dict[str, float] = {}
        pct: dict[str, int] = {}
        talk: dict[str, float] = {}
        offers: dict[str, int] = {}
        if request.lines:
            busy = {p: int(v) for p, v in zip(phones, next(replies), strict=True) if v is not None}
            held = {p for p, v in zip(phones, next(replies), strict=True) if v and int(v) > 0}
        if request.wrapup:
            last = {e: float(v) for e, v in zip(employees, next(replies), strict=True) if v}
        if request.percent_scope is not None:
            pct = {p: int(v) for p, v in zip(phones, next(replies), strict=True) if v is not None}
        if request.scope is not None:
            flat = next(replies)
            n = len(employees)
            for i, employee in enumerate(employees):
                talk[employee] = float(flat[2 * i])
                offers[employee] = int(flat[2 * (n + i) + 1])
        return _Materialized(busy, held, last, talk, offers, pct)

    # lines ------------------------------------------------------------------------------

    async def claim(
        self, call_id: str, phone: str, lines: int, mode: ClaimMode, now: float
    ) -> ClaimStatus:
        args: list[str | int] = [
            self.prefix,
            call_id,
            phone,
            lines,
            mode.value,
            repr(now),  # args[5]: `_written_back` moves it on by a pause it waits out
            employee_of(phone),
            self.node,
        ]
        status = str(await self._written_back(self._claim, args))
        if status == ClaimStatus.OK:
            self._holdings.lines.setdefault(call_id, set()).add(phone)
        return ClaimStatus(status)

    async def release(self, call_id: str, phone: str) -> None:
        # forgotten here first: a release that fails must not come back in a rebuild
        held = self._holdings.lines.get(call_id)
        if held is not None:
            held.discard(phone)
            if not held:
                del self._holdings.lines[call_id]
        await self._release(args=[self.prefix, call_id, phone, self.node])

    # counters ---------------------------------------------------------------------------

    async def record_offer(self, scope: str, employee: str, call_id: str, now: float) -> None:
        await self.client.zadd(self._key(f"offers:{scope}|{employee}"), {call_id: now})

    async def record_talk(
        self, scope: str, phone: str, call_id: str, seconds: float, now: float
    ) -> None:
        employee = employee_of(phone)
        member = f"{call_id}|{seconds!r}"
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self._key(f"talk:{scope}|{employee}"), {member: now})
        pipe.zadd(self._key(f"ptalk:{phone}"), {member: now})
        pipe.hset(self._key("lastend"), employee, repr(now))
        await pipe.execute()

    async def credit_percent(self, percent_scope: str, phone: str) -> None:
        await _done(self.client.hincrby(self._key(f"pct:{percent_scope}"), phone, 1))

    async def next_turn(self, key: str) -> int:
        return int(await self.client.incr(self._key(f"turn:{key}")))

    # queues -----------------------------------------------------------------------------

    async def enqueue(self, waiter: WaiterSpec, now: float) -> QueueSpot:
        args: list[str | int] = [
            self.prefix,
            waiter.call_id,
            waiter.caller,
            waiter.queue_key,
            waiter.width,
            repr(waiter.wrapup_seconds),
            self.node,
            repr(now),
            *waiter.phones,
        ]
        seq = int(await self._written_back(self._enqueue, args))
        self._holdings.waiters[waiter.call_id] = _Waiter(seq, waiter, waiter.width)
        spot = await self.queue_spot(waiter.call_id, now)
        assert spot is not None
        return spot

    async def set_width(self, call_id: str, width: int) -> None:
        held = self._holdings.waiters.get(call_id)
        if held is not None:
            held.width = width
        key = self._key(f"w:{call_id}")
        if await self.client.exists(key):
            await _done(self.client.hset(key, "width", str(width)))

    async def queue_spot(self, call_id: str, now: float) -> QueueSpot | None:
        seq, queue, phones = await _done(
            self.client.hmget(self._key(f"w:{call_id}"), ["seq", "qkey", "phones"])
        )
        if seq is None:
            return None
        ahead_ids: Sequence[str] = await self.client.zrangebyscore(
            self._key(f"q:{queue}"), "-inf", f"({seq}"
        )
        pipe = self.client.pipeline(transaction=False)
        for other in ahead_ids:
            pipe.hget(self._key(f"w:{other}"), "caller")
        keys = [self._key(f"ptalk:{phone}") for phone in str(phones).split("\n") if phone]
        await self._windows(args=[now - WAIT_STATS_WINDOW, *keys], client=pipe)
        replies = await pipe.execute()
        ahead = tuple(str(c) for c in replies[:-1] if c is not None)
        flat = replies[-1]
        seconds = sum(float(flat[i]) for i in range(0, len(flat), 2))
        calls = sum(int(flat[i]) for i in range(1, len(flat), 2))
        return QueueSpot(int(seq), len(ahead) + 1, ahead, seconds / calls if calls else None)

    async def dequeue(self, call_id: str) -> None:
        self._holdings.waiters.pop(call_id, None)
        await self._dequeue(args=[self.prefix, call_id, self.node])
