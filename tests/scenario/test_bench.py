"""The engine benchmark's call runs through all five operations (so `make bench` measures it)."""

from __future__ import annotations

from vpbx.bench.engine import five_operation_config, one_call


def test_the_benchmark_call_goes_through_five_operations() -> None:
    call = one_call(five_operation_config())
    entered = [s.data["key"] for s in call.details if s.kind == "operation"]
    assert entered == ["hello", "menu", "crm", "sales", "vm"]
    assert call.outcome is not None
    assert call.outcome.reason == "voicemail"
