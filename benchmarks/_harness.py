"""The runner every benchmark uses.

A timing on a shared machine is noise; a ratio measured in the same process,
with subject and baseline interleaved round by round, is not.  Each round runs
every case's subject and then its baseline once (alternating which goes
first), and the report gives the medians, throughput, and subject/baseline
speed ratio.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Case", "Result", "parse_args", "run_cases"]


@dataclass
class Case:
    """One measurement: ``subject`` (protokit) against ``baseline``.

    Each callable does one full pass over its input.  ``nbytes`` and ``items``
    describe one pass, for MB/s and items/s.
    """

    name: str
    subject: Callable[[], object]
    baseline: Callable[[], object] | None = None
    nbytes: int = 0
    items: int = 0
    subject_label: str = "protokit"
    baseline_label: str = "baseline"


@dataclass
class Result:
    case: Case
    subject_times: list[float] = field(default_factory=list)
    baseline_times: list[float] = field(default_factory=list)

    @property
    def subject_median(self) -> float:
        return statistics.median(self.subject_times)

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_times) if self.baseline_times else None

    @property
    def speedup(self) -> float | None:
        """How many times faster the subject is than the baseline (>1: faster)."""
        b = self.baseline_median
        return None if b is None else b / self.subject_median

    def mb_per_s(self, seconds: float) -> float | None:
        return self.case.nbytes / seconds / 1e6 if self.case.nbytes else None

    def items_per_s(self, seconds: float) -> float | None:
        return self.case.items / seconds if self.case.items else None


CLOCKS: dict[str, Callable[[], float]] = {
    "wall": time.perf_counter,
    # CPU time of this process: steadier than wall time on a shared machine,
    # for benchmarks that run entirely in this process.
    "cpu": time.process_time,
}
_default_clock = "wall"


def parse_args(argv: Sequence[str] | None, description: str = "") -> argparse.Namespace:
    """The options every benchmark takes."""
    global _default_clock
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny corpus, one round: a smoke test")
    p.add_argument("--rounds", type=int, default=None, help="rounds per case (default 5)")
    p.add_argument("--seed", type=int, default=1, help="corpus seed")
    p.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or this process's CPU time (steadier on a shared machine)",
    )
    args = p.parse_args(list(argv) if argv is not None else None)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    _default_clock = args.clock
    return args


def _time_once(fn: Callable[[], object], clock: Callable[[], float]) -> float:
    gc.collect()
    start = clock()
    fn()
    return clock() - start


def _fmt_rate(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


def run_cases(
    title: str,
    cases: Sequence[Case],
    *,
    rounds: int = 5,
    out: object = None,
    clock: str | None = None,
) -> list[Result]:
    """Run every case ``rounds`` times, interleaved, and print a report.

    ``clock`` is "wall" or "cpu"; by default, what ``--clock`` chose.
    """
    stream = out if out is not None else sys.stdout
    clock_name = clock or _default_clock
    timer = CLOCKS[clock_name]
    results = [Result(c) for c in cases]
    for r in range(rounds):
        for res in results:
            c = res.case
            order: list[tuple[Callable[[], object], list[float]]] = [
                (c.subject, res.subject_times)
            ]
            if c.baseline is not None:
                order.append((c.baseline, res.baseline_times))
            if r % 2:
                order.reverse()
            for fn, times in order:
                times.append(_time_once(fn, timer))
    _report(f"{title}  [{clock_name} clock]", results, rounds, stream)
    return results


def _row(label: str, seconds: float, res: Result) -> str:
    mbs = _fmt_rate(res.mb_per_s(seconds), "MB/s")
    ips = _fmt_rate(res.items_per_s(seconds), "items/s")
    return f"   {label:<22} {seconds * 1e3:10.2f} ms  {mbs:>14}  {ips:>16}"


def _report(title: str, results: Sequence[Result], rounds: int, stream: object) -> None:
    def w(line: str = "") -> None:
        print(line, file=stream)  # type: ignore[call-overload]

    w(f"== {title}  ({rounds} round{'s' if rounds != 1 else ''}, medians)")
    for res in results:
        c = res.case
        s = res.subject_median
        w(f"-- {c.name}")
        w(_row(c.subject_label, s, res))
        b = res.baseline_median
        if b is not None:
            w(_row(c.baseline_label, b, res))
            w(f"   ratio: {c.subject_label} is {res.speedup:.2f}x the speed of {c.baseline_label}")
    w()
