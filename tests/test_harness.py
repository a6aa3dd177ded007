from __future__ import annotations

import io

from benchmarks._corpus import rng, text_body
from benchmarks._harness import Case, parse_args, run_cases


def test_rounds_interleave_subject_and_baseline() -> None:
    calls: list[str] = []
    case = Case("x", lambda: calls.append("s"), lambda: calls.append("b"), nbytes=10**6, items=10)
    out = io.StringIO()
    (res,) = run_cases("t", [case], rounds=4, out=out)
    assert calls == ["s", "b", "b", "s", "s", "b", "b", "s"]
    assert len(res.subject_times) == len(res.baseline_times) == 4
    assert res.speedup == res.baseline_median / res.subject_median  # type: ignore[operator]
    text = out.getvalue()
    assert text.startswith("== t  [wall clock]  (4 rounds, medians)\n-- x\n")
    assert "MB/s" in text and "items/s" in text
    assert "ratio: protokit is " in text


def test_case_without_baseline_has_no_ratio() -> None:
    out = io.StringIO()
    (res,) = run_cases("t", [Case("solo", lambda: None)], rounds=1, out=out)
    assert res.speedup is None
    assert "ratio" not in out.getvalue()


def test_options() -> None:
    a = parse_args(["--quick"])
    assert (a.quick, a.rounds, a.seed, a.clock) == (True, 1, 1, "wall")
    b = parse_args(["--rounds", "3", "--seed", "7", "--clock", "cpu"])
    assert (b.quick, b.rounds, b.seed, b.clock) == (False, 3, 7, "cpu")
    out = io.StringIO()
    run_cases("c", [Case("y", lambda: sum(range(1000)))], rounds=1, out=out)
    assert "[cpu clock]" in out.getvalue()
    parse_args([])  # back to the default for other tests


def test_corpus_is_seeded_and_well_formed() -> None:
    a = text_body(rng(3), 5000)
    assert a == text_body(rng(3), 5000)
    assert a != text_body(rng(4), 5000)
    assert len(a) >= 5000
    assert a.endswith(b"\r\n")
    assert a.count(b"\r\n") == a.count(b"\n") == a.count(b"\r")
    assert b"\r\n." in a
