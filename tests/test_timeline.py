"""Timeline planning: exact Fractions, durations kept, the right pair and t for every frame."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from aprvfi_cli.video.timeline import (
    expected_output_count,
    group_by_pair,
    parse_rate,
    plan_slowmo,
    plan_timeline,
)


def cfr(rate: F, count: int, start: F = F(0)) -> list[F]:
    return [start + F(i) / rate for i in range(count)]


def check_plan(pts: list[F], plan, fps_out: F, end: F) -> None:
    """Every output frame sits at n/fps_out and samples the source at exactly that time."""
    rel = [p - pts[0] for p in pts]
    for n, frame in enumerate(plan):
        assert frame.index == n
        assert frame.time == F(n) / fps_out
        i, t = frame.source, frame.t
        assert 0 <= t < 1
        if i + 1 < len(rel):
            assert rel[i] <= frame.time < rel[i + 1]
            assert rel[i] + t * (rel[i + 1] - rel[i]) == frame.time
        else:
            assert t == 0 and rel[i] <= frame.time < end - pts[0]


@pytest.mark.parametrize(
    ("rate_in", "rate_out", "count"),
    [
        (F(24), F(60), 24),
        (F(25), F(50), 25),
        (F(30000, 1001), F(60000, 1001), 30),
        (F(30), F(24), 30),
        (F(30), F(60), 7),
        (F(25), F(30000, 1001), 50),
    ],
)
def test_conversion_keeps_duration_and_exact_times(rate_in: F, rate_out: F, count: int) -> None:
    pts = cfr(rate_in, count, start=F(7, 3))
    end = pts[-1] + 1 / rate_in
    plan = plan_timeline(pts, fps_out=rate_out, end=end)
    duration = F(count) / rate_in
    assert len(plan) == expected_output_count(duration=duration, fps_out=rate_out)
    # the output lasts as long as the input, within one output frame
    assert abs(F(len(plan)) / rate_out - duration) < 1 / rate_out
    check_plan(pts, plan, rate_out, end)


def test_24_to_60_pattern() -> None:
    plan = plan_timeline(cfr(F(24), 3), fps_out=F(60), end=F(3, 24))
    assert [(f.source, f.t) for f in plan] == [
        (0, F(0)),
        (0, F(2, 5)),
        (0, F(4, 5)),
        (1, F(1, 5)),
        (1, F(3, 5)),
        (2, F(0)),
        (2, F(0)),
        (2, F(0)),
    ]


def test_doubling_copies_every_source_frame() -> None:
    plan = plan_timeline(cfr(F(25), 10), fps_out=F(50), end=F(10, 25))
    assert len(plan) == 20
    assert [f.t for f in plan[:-2:2]] == [F(0)] * 9
    assert [f.source for f in plan[::2]] == list(range(10))
    assert all(f.t == F(1, 2) for f in plan[1:-1:2])


def test_30_to_24_drops_without_interpolating_every_frame() -> None:
    plan = plan_timeline(cfr(F(30), 30), fps_out=F(24), end=F(1))
    assert len(plan) == 24
    assert [f.t for f in plan[:5]] == [F(0), F(1, 4), F(1, 2), F(3, 4), F(0)]
    assert plan[4].source == 5


def test_variable_frame_rate_uses_real_pts() -> None:
    pts = [F(0), F(1, 10), F(3, 10), F(35, 100), F(6, 10)]
    end = F(7, 10)
    plan = plan_timeline(pts, fps_out=F(20), end=end)
    assert len(plan) == 14
    check_plan(pts, plan, F(20), end)
    assert (plan[3].source, plan[3].t) == (1, F(1, 4))  # 0.15 between 0.1 and 0.3


def test_non_increasing_pts_are_rejected() -> None:
    with pytest.raises(ValueError, match="increase"):
        plan_timeline([F(0), F(1), F(1)], fps_out=F(30))


@pytest.mark.parametrize("factor", [2, 3, 8])
def test_integer_slowmo_inserts_k_minus_1(factor: int) -> None:
    pts = cfr(F(30), 10)
    plan = plan_slowmo(pts, factor=factor)
    assert len(plan) == 9 * factor + 1
    assert [f.time for f in plan] == [F(n, 30) for n in range(9 * factor + 1)]
    pairs = group_by_pair(plan)
    assert sorted(pairs) == list(range(9))
    assert all([f.t for f in group] == [F(j, factor) for j in range(1, factor)] for group in pairs.values())


def test_integer_slowmo_keeps_variable_rate_shape() -> None:
    pts = [F(0), F(1, 10), F(3, 10)]
    plan = plan_slowmo(pts, factor=2)
    assert [f.time for f in plan] == [F(0), F(1, 10), F(2, 10), F(4, 10), F(6, 10)]


def test_fractional_slowmo_samples_at_k_times_rate() -> None:
    pts = cfr(F(20), 5)
    plan = plan_slowmo(pts, factor=F(5, 2), source_rate=F(20), end=F(5, 20))
    assert len(plan) == 13  # ceil(5 frames * 2.5)
    assert [f.time for f in plan[:3]] == [F(0), F(1, 20), F(2, 20)]
    assert [(f.source, f.t) for f in plan[:4]] == [
        (0, F(0)),
        (0, F(2, 5)),
        (0, F(4, 5)),
        (1, F(1, 5)),
    ]


def test_slowmo_factor_must_exceed_one() -> None:
    with pytest.raises(ValueError):
        plan_slowmo(cfr(F(30), 3), factor=1)
    with pytest.raises(ValueError):
        plan_slowmo(cfr(F(30), 3), factor=F(3, 2))  # fractional without a source rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60", F(60)),
        ("59.94", F(60000, 1001)),
        ("60000/1001", F(60000, 1001)),
        ("29.97", F(30000, 1001)),
        ("23.976", F(24000, 1001)),
        ("12.5", F(25, 2)),
        (" 50 ", F(50)),
    ],
)
def test_parse_rate(text: str, rate: F) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1/0", "", "nan", "inf", "0/5"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


@pytest.mark.parametrize("factor", [2, 3])
def test_integer_slowmo_lasts_exactly_k_times(factor: int) -> None:
    """x2 of 3 s gave 5.958 s: the last source frame showed for one output frame, not k."""
    pts = cfr(F(30), 90)
    plan = plan_slowmo(pts, factor=factor, end=F(3))
    assert len(plan) == 90 * factor
    assert plan[-1].time + F(1, 30) == 3 * factor  # the end of the last frame: k x 3 s
    assert all(f.source == 89 and f.is_copy for f in plan[-factor:])


def test_slowmo_factor_has_an_upper_bound() -> None:
    """`slowmo --factor 1e9` ran until killed; `--fps` was capped."""
    from aprvfi_cli.video.timeline import MAX_SLOWMO_FACTOR, make_slowmo_planner

    make_slowmo_planner(factor=MAX_SLOWMO_FACTOR, source_rate=F(30))
    with pytest.raises(ValueError, match="at most"):
        make_slowmo_planner(factor=10**9, source_rate=F(30))
