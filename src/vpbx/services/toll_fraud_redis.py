"""The toll-fraud guard's counters on Redis, for several switch nodes sharing accounts' limits.

Implements `vpbx.domain.toll_fraud.OutgoingCounters` with the same rules as the in-process
`OutgoingLedger` (the destination rule needs no shared state and is judged in Python first).
Every change is one Lua script, so two nodes admitting at once cannot both take the last place.
Keys, under `prefix`:

* ``tf:leases:<account>`` (hash lease → when it was answered, "" while ringing)
* ``tf:talk:<account>`` (sorted set by end time of finished talk, members ``start:end:lease``;
  pruned an hour after their end, so talk is forgotten exactly when it leaves the window)
* ``tf:cap:<account>`` (the minutes cap in seconds as of the latest admission)
* ``tf:owner`` (hash lease → account), ``tf:accounts`` (set of accounts holding leases)

Clocks: `now` is POSIX seconds from each node; nodes are expected to be NTP-synchronised.
Times travel as "%.6f" strings (Redis turns a Lua number reply into an integer).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

from redis.asyncio import Redis

from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.domain.toll_fraud import (
    EPSILON,
    HOUR,
    Refusal,
    destination_refusal,
    minutes_refusal,
    normalize,
    simultaneous_refusal,
)

__all__ = ["RedisCounters"]

# used(p, acct, now): talk of the account in (now - HOUR, now], in progress up to now
_USED = """
local function overlap(s, e, now, hour)
  local lo = math.max(s, now - hour)
  local hi = math.min(e, now)
  if hi > lo then return hi - lo end
  return 0
end
local function used(p, acct, now, hour)
  local talk = p .. 'tf:talk:' .. acct
  redis.call('ZREMRANGEBYSCORE', talk, '-inf', now - hour)
  local total = 0
  for _, m in ipairs(redis.call('ZRANGE', talk, 0, -1)) do
    local s, e = string.match(m, '^([^:]+):([^:]+):')
    total = total + overlap(tonumber(s), tonumber(e), now, hour)
  end
  local leases = redis.call('HGETALL', p .. 'tf:leases:' .. acct)
  local talking = 0
  for i = 2, #leases, 2 do
    if leases[i] ~= '' then
      total = total + overlap(tonumber(leases[i]), now, now, hour)
      talking = talking + 1
    end
  end
  return total, talking
end
"""

_ADMIT = (
    _USED
    + """
local p, acct, lease = ARGV[1], ARGV[2], ARGV[3]
local most, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local now, hour = tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('SET', p .. 'tf:cap:' .. acct, ARGV[5])
local leases = p .. 'tf:leases:' .. acct
local count = redis.call('HLEN', leases)
if count >= most then return {'simultaneous', tostring(count)} end
local total = used(p, acct, now, hour)
if total >= cap then return {'minutes', string.format('%.6f', total)} end
if redis.call('HEXISTS', p .. 'tf:owner', lease) == 1 then return {'taken', ''} end
redis.call('HSET', leases, lease, '')
redis.call('HSET', p .. 'tf:owner', lease, acct)
redis.call('SADD', p .. 'tf:accounts', acct)
return {'ok', ''}
"""
)

_ANSWERED = """
local p, lease, now = ARGV[1], ARGV[2], ARGV[3]
local acct = redis.call('HGET', p .. 'tf:owner', lease)
if not acct then return 0 end
local leases = p .. 'tf:leases:' .. acct
if redis.call('HGET', leases, lease) == '' then redis.call('HSET', leases, lease, now) end
return 1
"""

_RELEASE = """
local p, lease, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local acct = redis.call('HGET', p .. 'tf:owner', lease)
if not acct then return 0 end
local leases = p .. 'tf:leases:' .. acct
local since = redis.call('HGET', leases, lease)
redis.call('HDEL', leases, lease)
redis.call('HDEL', p .. 'tf:owner', lease)
if since and since ~= '' and now > tonumber(since) then
  redis.call('ZADD', p .. 'tf:talk:' .. acct, now, since .. ':' .. ARGV[3] .. ':' .. lease)
end
if redis.call('HLEN', leases) == 0 then redis.call('SREM', p .. 'tf:accounts', acct) end
return 1
"""

# over_limit (mode 'cut': the talking leases to hang up) and next_check (mode 'when')
_SCAN = (
    _USED
    + """
local p, mode = ARGV[1], ARGV[2]
local now, hour, eps = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local found = {}
local earliest = nil
for _, acct in ipairs(redis.call('SMEMBERS', p .. 'tf:accounts')) do
  local cap = tonumber(redis.call('GET', p .. 'tf:cap:' .. acct) or '0')
  local total, talking = used(p, acct, now, hour)
  if talking > 0 then
    local left = cap - total
    if mode == 'cut' and left <= eps then
      local leases = redis.call('HGETALL', p .. 'tf:leases:' .. acct)
      for i = 1, #leases, 2 do
        if leases[i + 1] ~= '' then table.insert(found, leases[i]) end
      end
    elseif mode == 'when' then
      local when = now
      if left > eps then when = now + left / talking end
      if earliest == nil or when < earliest then earliest = when end
    end
  end
end
if mode == 'when' then
  if earliest == nil then return '' end
  return string.format('%.6f', earliest)
end
return found
"""
)


class RedisCounters:
    """`OutgoingCounters` on Redis (``VPBX_REDIS_URL``), under a key prefix."""

    def __init__(self, client: Redis, prefix: str = "vpbx:") -> None:
        self.client = client
        self.prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._answered = client.register_script(_ANSWERED)
        self._release = client.register_script(_RELEASE)
        self._scan = client.register_script(_SCAN)

    @classmethod
    def from_url(cls, url: str, prefix: str = "vpbx:") -> RedisCounters:
        return cls(Redis.from_url(url, decode_responses=True), prefix)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def clear(self) -> None:
        """Delete every key under the prefix (tests)."""
        async for key in self.client.scan_iter(match=f"{self.prefix}tf:*"):
            await self.client.delete(key)

    async def _run(self, result: Awaitable[Any] | Any) -> Any:
        """A reply of redis-py's async client (typed as sync-or-async by the library)."""
        return await cast(Awaitable[Any], result)

    async def admit(
        self, account_id: int, lease_id: str, policy: TollFraudPolicy, dialled: str, now: float
    ) -> Refusal | None:
        refusal = destination_refusal(policy, dialled)
        if refusal is not None:
            return refusal
        args = [
            self.prefix,
            str(account_id),
            lease_id,
            str(policy.max_simultaneous_calls),
            str(policy.max_minutes_per_hour * 60.0),
            f"{now:.6f}",
            str(HOUR),
        ]
        verdict, detail = await self._run(self._admit(args=args))
        number = normalize(dialled)
        if verdict == "simultaneous":
            return simultaneous_refusal(number, int(detail), policy)
        if verdict == "minutes":
            return minutes_refusal(number, policy)
        if verdict == "taken":
            raise ValueError(f"lease {lease_id!r} is already held")
        return None

    async def answered(self, lease_id: str, now: float) -> None:
        await self._run(self._answered(args=[self.prefix, lease_id, f"{now:.6f}"]))

    async def release(self, lease_id: str, now: float) -> None:
        await self._run(self._release(args=[self.prefix, lease_id, f"{now:.6f}"]))

    async def over_limit(self, now: float) -> list[str]:
        args = [self.prefix, "cut", f"{now:.6f}", str(HOUR), str(EPSILON)]
        found = await self._run(self._scan(args=args))
        return sorted(str(lease) for lease in found)

    async def next_check(self, now: float) -> float | None:
        args = [self.prefix, "when", f"{now:.6f}", str(HOUR), str(EPSILON)]
        when = await self._run(self._scan(args=args))
        return float(when) if when else None

    async def active(self, account_id: int) -> int:
        count = await self._run(self.client.hlen(f"{self.prefix}tf:leases:{account_id}"))
        return int(count)
