"""The travel pack (``aprvfi data pack``): build from tiny clips, open, verify, decode, shard, refuse, evaluate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_error, make_clip
from test_train_command import fake_cache

from aprvfi_cli.data.decode import iter_frames
from aprvfi_cli.data.holdout import HeldOutError, sha256_file
from aprvfi_cli.data.pack import DEV_SHARD, Pack, PackError
from aprvfi_cli.data.pack_build import PackSettings, build_pack, even_downscale, plan_clip, with_known_cuts
from aprvfi_cli.data.pack_sources import folder_clips
from aprvfi_cli.data.triplets import ClipSteps, plan_triplets
from aprvfi_cli.eval.metrics import psnr
from aprvfi_cli.eval.sets import open_eval_set

SETTINGS = PackSettings(max_side=64, crf=16, dev_per_clip=None)


def tiny_sources(root: Path) -> tuple[Path, Path]:
    """A cache with one 24-frame clip, and a clip folder: one clip with a cut, one with repeated frames."""
    cache = fake_cache(root / "cache")
    make_clip(cache / "clips/moving.mp4", frames=24, width=96, height=64)
    manifest = json.loads((cache / "manifest.json").read_text())
    for entry in manifest["sources"][0]["files"]:
        if entry["file"] == "clips/moving.mp4":
            entry["sha256"] = entry["source_sha256"] = sha256_file(cache / entry["file"])
    (cache / "manifest.json").write_text(json.dumps(manifest))
    folder = root / "train_clips"
    folder.mkdir()
    make_clip(folder / "cut.mp4", frames=30, width=96, height=64, cut_at=12)
    make_clip(folder / "repeats.mkv", frames=30, width=96, height=64, duplicates=(5, 6, 20))
    (folder / "SOURCES.md").write_text(
        "| # | file | licence | note |\n|---|---|---|---|\n| 1 | `cut.mp4` | CC0 1.0 | a cut |\n"
        "| 2 | `repeats.mkv` | CC BY 4.0 | repeats |\n"
    )
    (folder / "SHA256SUMS").write_text("".join(f"{sha256_file(folder / n)}  {n}\n" for n in ("cut.mp4", "repeats.mkv")))
    return cache, folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_sources(tmp_path_factory.mktemp("sources"))


@pytest.fixture(scope="module")
def pack(sources: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "pack"
    build_pack(sources[0], [sources[1]], out, settings=SETTINGS)
    return out


def test_pack_opens_verifies_and_decodes_close_to_the_sources(pack: Path, sources: tuple[Path, Path]) -> None:
    opened = Pack.open(pack)
    opened.verify()
    assert opened.shard_names() == ["shard-00"] and opened.leg_shards(3) == ["shard-00"]
    by_name = {clip.name: clip for clip in opened.clips}
    assert set(by_name) == {"moving_mp4", "cut_mp4", "repeats_mkv"}
    assert by_name["cut_mp4"].licence == "CC0 1.0" and by_name["moving_mp4"].source == "cache:clips/moving.mp4"
    assert by_name["repeats_mkv"].source_sha256 == sha256_file(sources[1] / "repeats.mkv")
    moving = by_name["moving_mp4"]
    frames = opened.decode(moving)
    assert frames.shape == (moving.frames, 42, 64, 3) and (moving.width, moving.height) == (64, 42)
    # every frame of the 24 is used (train, then the dev tail), except the gap between them
    originals = [even_downscale(image, 64) for image in iter_frames(sources[0] / "clips/moving.mp4")]
    used = [originals[i] for i in range(24) if i < 17 or i >= 19]
    assert len(used) == moving.frames
    assert min(psnr(a, b) for a, b in zip(frames, used, strict=True)) > 30
    assert np.array_equal(opened.decode(moving, [3, 1])[1], frames[1])
    notice = (pack / "NOTICE.md").read_text()
    assert all(f"| {clip.file} |" in notice for clip in opened.clips) and "package test 1" in notice
    assert (pack / "sources/train_clips.SOURCES.md").read_text() == (sources[1] / "SOURCES.md").read_text()


def test_triplets_are_in_range_and_dev_frames_never_train(pack: Path) -> None:
    opened = Pack.open(pack)
    for clip in opened.clips:
        assert len(clip.train) and len(clip.dev), clip.name
        for triplets, times in ((clip.train, clip.train_t), (clip.dev, clip.dev_t)):
            assert triplets.dtype == np.int64 and triplets.shape[1] == 3 and len(times) == len(triplets)
            assert triplets.min() >= 0 and triplets.max() < clip.frames
            assert np.all(np.diff(triplets, axis=1) > 0) and np.all(times == 0.5)
        assert not set(clip.train.ravel()) & set(clip.dev.ravel())
        assert clip.train.max() < clip.dev.min()


def test_cuts_and_repeated_frames_leave_no_triplet(pack: Path) -> None:
    manifest = json.loads((pack / "manifest.json").read_text())
    entries = {entry["name"]: entry for entry in manifest["clips"]}
    # 30 frames, 28 triplets (a, a+1, a+2): the cut (step 11) drops a = 10, 11; the repeats (steps 4, 5, 19)
    # drop a = 3, 4, 5, 18, 19; dev: a >= 24 (the last 20 %), train: a <= 19 (one span before it)
    assert entries["cut_mp4"]["cut_steps"] == 1 and entries["repeats_mkv"]["duplicate_steps"] == 3
    counts = {name: (len(entries[name]["train"]), len(entries[name]["dev"])) for name in entries}
    assert counts == {"cut_mp4": (18, 4), "repeats_mkv": (15, 4), "moving_mp4": (15, 3)}
    # the two shots of cut.mp4 have different palettes: no triplet mixes them
    opened = Pack.open(pack)
    clip = next(c for c in opened.clips if c.name == "cut_mp4")
    frames = opened.decode(clip)
    blue = frames[:, :, :, 2].mean(axis=(1, 2)) > 150  # the second shot's palette
    for a, b, c in np.concatenate([clip.train, clip.dev]):
        assert blue[a] == blue[b] == blue[c]


def test_known_cuts_cover_what_thresholds_miss() -> None:
    steps = ClipSteps(np.zeros(10, bool), np.zeros(10, bool), fps=25.0, width=64, height=48)
    assert len(plan_triplets(steps)) == 9
    marked = with_known_cuts(steps, ((3, 5),))
    assert [a for a, _, _ in plan_triplets(marked)] == [0, 1, 6, 7, 8]
    assert not steps.cuts.any()  # the input is left as it was


def test_the_cuts_a_folder_names_are_dropped(tmp_path: Path) -> None:
    """A clip under a name of KNOWN_CUTS loses the triplets across its listed steps, though nothing is detected."""
    make_clip(tmp_path / "openmpf-components__scene_change.mp4", frames=30, width=96, height=64)
    (clip,) = folder_clips(tmp_path)
    assert clip.known_cuts == ((12, 23),) and clip.origin == f"{tmp_path.name}/SOURCES.md"
    plan = plan_clip(clip, PackSettings(dev_fraction=0.1, dev_per_clip=None))
    assert plan.cut_steps == 12
    # usable: a = 0-10 and 24-27; dev from frame 27 on, training before frame 25
    assert [a for a, _, _ in plan.train] == list(range(11)) and plan.dev == [(27, 28, 29)]


def test_a_corrupted_file_fails_verify_naming_it(pack: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(pack, tmp_path / "pack")
    opened = Pack.open(copy)
    target = opened.path(opened.clips[1])
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(PackError, match=target.name) as caught:
        opened.verify()
    assert "\n" not in str(caught.value) and "SHA-256" in str(caught.value)
    target.unlink()
    assert opened.clips[1] not in opened.present() and len(opened.present()) == 2
    with pytest.raises(PackError, match="missing"):
        opened.verify()


def test_a_held_out_clip_is_refused_and_nothing_is_written(sources: tuple[Path, Path], tmp_path: Path) -> None:
    folder = tmp_path / "offered"
    folder.mkdir()
    shutil.copy(sources[1] / "cut.mp4", folder / "cockatoo.mp4")  # a held-out name
    with pytest.raises(HeldOutError):
        build_pack(sources[0], [folder], tmp_path / "pack", settings=SETTINGS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["offered"]


def test_a_manifest_naming_held_out_data_is_refused(pack: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(pack, tmp_path / "pack")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["clips"][0]["source"] = "train_clips:balle1-vp9.avi"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackError, match="held-out"):
        Pack.open(copy)


def test_a_small_budget_splits_training_into_shards_beside_a_dev_shard(
    sources: tuple[Path, Path], pack: Path, tmp_path: Path
) -> None:
    budget = 0.01  # MiB: the tiny pack's three clips take 10.4 KB in one shard, as dev + training parts 15.6 KB
    out = tmp_path / "sharded"
    build_pack(sources[0], [sources[1]], out, settings=PackSettings(max_side=64, crf=16, shard_mib=budget))
    opened = Pack.open(out)
    opened.verify()
    shards = {shard["name"]: shard["bytes"] for shard in opened.manifest["shards"]}
    assert opened.shard_names()[0] == DEV_SHARD and len(shards) >= 3
    for name, size in shards.items():
        assert name == DEV_SHARD or shards[DEV_SHARD] + size <= budget * 2**20
    assert all(not len(c.train) for c in opened.clips if c.shard == DEV_SHARD)
    assert all(not len(c.dev) for c in opened.clips if c.shard != DEV_SHARD)
    # the dev set and the training triplets are those of the one-shard pack
    one = Pack.open(pack)
    assert sum(len(c.dev) for c in opened.clips) == sum(len(c.dev) for c in one.clips)
    assert sum(len(c.train) for c in opened.clips) == sum(len(c.train) for c in one.clips)
    assert opened.leg_shards(0) == [DEV_SHARD, "shard-00"] and opened.leg_shards(1) == [DEV_SHARD, "shard-01"]
    shutil.rmtree(out / "shard-01")
    assert {c.shard for c in opened.present()} == set(shards) - {"shard-01"}


def test_building_twice_chooses_the_same_frames_and_triplets(
    sources: tuple[Path, Path], pack: Path, tmp_path: Path
) -> None:
    """Everything but the encoded bytes: libx264 (PyAV 18.1's) encodes the same frames a little
    differently from run to run, even on one thread."""

    def chosen(root: Path) -> dict:
        manifest = json.loads((root / "manifest.json").read_text())
        for entry in manifest["clips"]:
            for key in ("sha256", "bytes", "psnr"):
                del entry[key]
        del manifest["shards"]
        return manifest

    again = tmp_path / "again"
    build_pack(sources[0], [sources[1]], again, settings=SETTINGS)
    assert chosen(again) == chosen(pack)


BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("av", "cv2"):
            raise ImportError(f"{name} is blocked")
sys.meta_path.insert(0, Block())
"""


def test_the_reader_imports_and_verifies_without_pyav(pack: Path) -> None:
    script = BLOCKER + textwrap.dedent(
        f"""
        from aprvfi_cli.data.pack import Pack, PackError
        pack = Pack.open({str(pack)!r})
        pack.verify(pack.present())
        assert "av" not in sys.modules and "cv2" not in sys.modules
        try:
            pack.decode(pack.clips[0])
        except PackError as error:
            print(error)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "needs OpenCV (cv2) or PyAV" in result.stdout


def test_opencv_decodes_as_pyav_does(pack: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    opened = Pack.open(pack)
    for clip in opened.clips:
        capture = cv2.VideoCapture(str(opened.path(clip)))
        ours = []
        while (read := capture.read())[0]:
            ours.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
        pyav = list(iter_frames(opened.path(clip)))
        assert len(ours) == len(pyav) == clip.frames
        assert min(psnr(a, b) for a, b in zip(ours, pyav, strict=True)) > 40


def test_a_pack_is_an_evaluation_layout(pack: Path) -> None:
    found = open_eval_set(pack)
    opened = Pack.open(pack)
    assert found.layout == "pack dev set" and found.count == sum(len(c.dev) for c in opened.clips)
    triplets = list(found.triplets)
    assert triplets[0].name == "moving_mp4#0" and triplets[0].frame0.shape == (42, 64, 3)
    assert len(triplets) == found.count and open_eval_set(pack, limit=2).count == 2


def test_cli_builds_and_summarises(cli, sources: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "pack"
    result = cli(
        "data", "pack", "--dir", sources[0], "--clips", sources[1], "--out", out, "--max-side", 64,
        "--train-per-clip", 4,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "shard-00" in result.out and "CC BY 4.0" in result.out and "verified" in result.out
    assert max(len(c.train) for c in Pack.open(out).clips) == 4


def test_cli_error_paths(cli, sources: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "pack"
    missing_cache = cli("data", "pack", "--dir", tmp_path / "nope", "--clips", sources[1], "--out", out)
    assert_one_error(missing_cache, 2, "no training data")
    missing_clips = cli("data", "pack", "--dir", sources[0], "--clips", tmp_path / "none", "--out", out)
    assert_one_error(missing_clips, 2, "no clip folder")
    offered = tmp_path / "offered"
    offered.mkdir()
    shutil.copy(sources[1] / "cut.mp4", offered / "VID_20191220_170832.mp4")
    assert_one_error(cli("data", "pack", "--dir", sources[0], "--clips", offered, "--out", out), 2, "held-out")
    not_a_pack = tmp_path / "precious"
    not_a_pack.mkdir()
    (not_a_pack / "notes.txt").write_text("keep")
    assert_one_error(cli("data", "pack", "--dir", sources[0], "--out", not_a_pack), 2, "not a pack")
    assert not out.exists() and (not_a_pack / "notes.txt").read_text() == "keep"
    bad_preset = cli("data", "pack", "--dir", sources[0], "--out", out, "--preset", "fastest")
    assert_one_error(bad_preset, 2, "--preset")
    assert_one_error(cli("data", "pack", "--dir", sources[0], "--out", out, "--crf", 60), 2, "--crf")
    assert not out.exists()
