"""Segment planning: starts at keyframes, scene cuts preferred, every output frame exactly once."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from conftest import make_clip

from aprvfi_cli.cluster.plan import scan_source
from aprvfi_cli.cluster.segments import choose_starts, split_plan
from aprvfi_cli.engine.stream import JobOptions, Retime


def test_starts_are_keyframes_near_even_splits() -> None:
    assert choose_starts(100, keyframes=range(0, 100, 10), cuts=(), parts=4) == [0, 20, 50, 70]  # ties: earlier
    assert choose_starts(100, keyframes=[0, 24, 51, 77], cuts=(), parts=4) == [0, 24, 51, 77]


def test_a_scene_cut_wins_within_reach() -> None:
    keys = range(0, 100, 5)
    assert choose_starts(100, keyframes=keys, cuts={30}, parts=4) == [0, 30, 50, 75]  # 30 is 5 from 25
    assert choose_starts(100, keyframes=keys, cuts={40}, parts=4) == [0, 25, 50, 75]  # 40 is out of reach


def test_sparse_keyframes_give_fewer_segments() -> None:
    assert choose_starts(100, keyframes=[0], cuts=(), parts=4) == [0]
    assert choose_starts(100, keyframes=[0, 60], cuts=(), parts=4) == [0, 60]
    assert choose_starts(100, keyframes=[0, 99], cuts=(), parts=2) == [0]  # the last frame starts nothing


def test_split_covers_every_output_frame_once(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "c.mp4", frames=40, cut_at=21, keyframe_interval=8, duplicates=[16])
    for retime in (Retime(fps=Fraction(60)), Retime(fps=Fraction(24)), Retime(slowmo=Fraction(5, 2))):
        plan = scan_source(source, JobOptions(retime=retime))
        assert plan.duplicates == 1 and plan.cuts == {20}  # frame 16 dropped: the cut is kept index 20
        assert plan.keyframes == {0, 8, 23, 31}  # decoded 0, 8, 24, 32 (16 was the dropped duplicate)
        segments = split_plan(plan, 4)
        assert [s.start for s in segments] == [0, 8, 23, 31]
        assert [f for s in segments for f in s.outputs] == list(plan.outputs)  # each once, in order
        assert [s.final for s in segments] == [False, False, False, True]
        assert len(plan.kept) == 39
        for segment, last in zip(segments, [8, 23, 31, 38], strict=True):
            assert segment.frames == plan.kept[segment.start : last + 1]  # one past its end, but the final
            assert segment.cuts == tuple(k == 20 for k in range(segment.start + 1, last + 1))
