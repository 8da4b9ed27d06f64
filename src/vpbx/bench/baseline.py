"""This build's call figures beside the build issues 11–13 compare with, on one machine, one run.

Issues 11, 12 and 13 ask that `make bench`'s call figures be "not worse than before": 50 CPS and
400 concurrent calls at commit `BASELINE` (2026-11-26), on that day's machine. Machines differ
more than builds do (this build held 50 CPS on one quiet machine and 30 on another), so the old
build runs here, right after this build's calls campaign in the same `make bench`: its source
from git (`git archive`, nothing checked out in the working tree), its own venv, and its own
call benchmarks (`vpbx.bench.calls` as of that commit: that day's harness drives that day's
`vpbx run`; its SIPp scenarios and criteria are those the figures were measured with, its ladder
of rates this build's, so that both builds climb the same rungs).

`python -m vpbx.bench.baseline` runs both campaigns alone and merges the rows.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vpbx.bench.calls import RATES, bench_calls_concurrent, bench_calls_cps, calls_campaign
from vpbx.bench.core import Result
from vpbx.bench.merge import merge_rows

__all__ = ["BASELINE", "BENCHMARKS", "baseline_campaign", "baseline_method"]

#: the commit whose figures (50 CPS, 400 concurrent calls) issues 11–13 were filed against
BASELINE = "1408769434d4febc96d30a466d9b7f3e8b3e4400"
ROOT = Path(__file__).resolve().parents[3]
MARK = "BASELINE-ROWS "
#: what the old build runs: its call benchmarks, printed as one JSON line
OLD_RUN = f"""
import json
from dataclasses import asdict
import vpbx.bench.calls
from vpbx.bench.calls import BENCHMARKS, calls_campaign
vpbx.bench.calls.RATES = {RATES!r}  # this build's ladder: both builds climb the same rungs
rows = [asdict(bench()) for bench in BENCHMARKS]
print({MARK!r} + json.dumps({{"rows": rows, "log": calls_campaign().log}}), flush=True)
"""


@dataclass
class Baseline:
    rows: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.log.append(text)
        print(f"[baseline] {text}", flush=True)

    def value(self, prefix: str) -> float | None:
        return next((v for name, v in self.rows.items() if name.startswith(prefix)), None)


def _export(tree: Path) -> None:
    """The old build's files, from this repository's history (the working tree is untouched)."""
    tree.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", BASELINE],
        capture_output=True,
        check=True,
        timeout=120,
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True, timeout=120)


def _venv(tree: Path) -> Path:
    """The old build installed in a venv of its own (its dependencies from its pyproject)."""
    venv = tree / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-e", str(tree)],
        check=True,
        timeout=1200,
    )
    return python


@functools.cache
def baseline_campaign() -> Baseline:
    """The old build's call benchmarks, run once (after this build's: see BENCHMARKS)."""
    baseline = Baseline()
    calls_campaign()  # this build's campaign first, so the two never overlap
    root = Path(tempfile.mkdtemp(prefix="vpbx-bench-baseline-"))
    try:
        tree = root / "tree"
        _export(tree)
        python = _venv(tree)
        baseline.say(f"build {BASELINE[:7]} exported and installed; its call benchmarks run")
        # its own temporary folders, SIPp and ports; nothing of this build's environment leaks
        env = {k: v for k, v in os.environ.items() if not k.startswith("VPBX_")}
        done = subprocess.run(
            [str(python), "-c", OLD_RUN],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        found = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
        if done.returncode != 0 or not found:
            tail = (done.stderr or done.stdout)[-600:]
            raise RuntimeError(f"exit {done.returncode}: {tail}")
        data = json.loads(found[-1][len(MARK) :])
        baseline.rows = {str(row["name"]): float(row["value"]) for row in data["rows"]}
        baseline.log.extend(f"{BASELINE[:7]}: {line}" for line in data["log"])
    except (OSError, subprocess.SubprocessError, RuntimeError, ValueError, KeyError) as error:
        # A row without a reference says so; the rest of `make bench` goes on.
        baseline.say(f"the old build was not measured: {error}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return baseline


def _beside(head: Result, prefix: str, what: str) -> Result:
    old = baseline_campaign().value(prefix)
    return Result(
        f"{what}: this build vs build {BASELINE[:7]} (the figure issues 11–13 compare with), "
        "same machine, same run",
        head.value,
        head.unit,
        f"build {BASELINE[:7]} with its own call benchmarks, run right after this build's",
        old,
        head.value / old if old else None,
        "ratio ≥ 1.0 (not worse than before)",
    )


def bench_baseline_cps() -> Result:
    return _beside(bench_calls_cps(), "calls: max CPS", "calls: max CPS")


def bench_baseline_concurrent() -> Result:
    return _beside(
        bench_calls_concurrent(), "calls: max concurrent calls", "calls: max concurrent calls"
    )


def baseline_method() -> tuple[str, ...]:
    return (
        f"Before and after (`vpbx.bench.baseline`, the `… vs build {BASELINE[:7]}` rows): the",
        f"build issues 11–13 were measured against ({BASELINE[:7]}, 2026-11-26: 50 CPS, 400",
        "concurrent calls on that day's machine) is exported from git into a venv of its own",
        "and runs its own call benchmarks (that day's harness and criteria, with this build's",
        "ladder of rates: both climb the same rungs) right after this build's calls campaign,",
        "on this machine. What this run saw:",
    )


BENCHMARKS = (bench_baseline_cps, bench_baseline_concurrent)


if __name__ == "__main__":
    from vpbx.bench.calls import BENCHMARKS as CALLS
    from vpbx.bench.calls import CALLS_METHOD

    # this build's call rows are measured on the way: they are merged too
    calls = [bench() for bench in CALLS]
    # the rows named by their rate ("… 40 calls/s for 60 s") replace those of any other rate
    merge_rows(calls, "calls: ", CALLS_METHOD, calls_campaign().log)
    results = [bench() for bench in BENCHMARKS]
    merge_rows(results, "calls: max CPS: this build vs", baseline_method(), baseline_campaign().log)
    for result in [*calls, *results]:
        print(result)
