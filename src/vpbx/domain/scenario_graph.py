"""Pure checks of a scenario graph: links, the Menu's extension-input exit, insertion cycles."""

from __future__ import annotations

from collections.abc import Mapping

from vpbx.domain.entities.scenarios import ExtensionForward, InsertScenario, Menu, Scenario
from vpbx.domain.errors import Violation


def graph_violations(scenario: Scenario) -> list[Violation]:
    """Every broken rule of one scenario's graph (SCN, SCN-MENU)."""
    found: list[Violation] = []
    keys: dict[str, int] = {}
    for index, op in enumerate(scenario.operations):
        if op.key in keys:
            found.append(
                Violation(f"operations.{index}.key", f"duplicate operation key {op.key!r}")
            )
        keys.setdefault(op.key, index)
    if scenario.operations and scenario.entry is None:
        found.append(Violation("entry", "a scenario with operations needs an entry operation"))
    if scenario.entry is not None and scenario.entry not in keys:
        found.append(
            Violation("entry", f"entry {scenario.entry!r} is not an operation of this scenario")
        )
    for index, op in enumerate(scenario.operations):
        for exit_name, target in op.links():
            if target not in keys:
                found.append(
                    Violation(
                        f"operations.{index}.exits.{exit_name}",
                        f"exit {exit_name!r} links to {target!r}, which is not an operation of "
                        "this scenario",
                        "dangling_exit",
                    )
                )
        if isinstance(op, Menu):
            ext_target = op.exits.get("extension_input")
            if ext_target is not None and ext_target in keys:
                linked = scenario.operations[keys[ext_target]]
                if not (isinstance(linked, ExtensionForward) and linked.from_menu):
                    found.append(
                        Violation(
                            f"operations.{index}.exits.extension_input",
                            "the extension input exit of a menu accepts only the special "
                            "forward-to-extension operation (kind extension, from_menu true)",
                            "menu_extension_input",
                        )
                    )
    return found


def inserted(scenario: Scenario) -> set[int]:
    """Ids of the scenarios this one inserts (SCN-INS)."""
    return {op.scenario_id for op in scenario.operations if isinstance(op, InsertScenario)}


def insertion_cycle(start: int, edges: Mapping[int, set[int]]) -> list[int] | None:
    """A cycle of insertions through `start` (as a path of ids), or None."""
    path: list[int] = [start]
    on_path = {start}
    seen: set[int] = set()

    def visit(node: int) -> list[int] | None:
        for nxt in sorted(edges.get(node, set())):
            if nxt == start:
                return [*path, start]
            if nxt in on_path or nxt in seen:
                continue
            path.append(nxt)
            on_path.add(nxt)
            cycle = visit(nxt)
            if cycle is not None:
                return cycle
            on_path.discard(path.pop())
            seen.add(nxt)
        return None

    return visit(start)
