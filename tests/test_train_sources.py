"""Data preparation pieces: licences from copyright files, the held-out check, clip triplets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_clip

from aprvfi_cli.data.holdout import HeldOutError, check_not_held_out, is_held_out
from aprvfi_cli.data.sources import deb_licences, licence_for
from aprvfi_cli.data.triplets import plan_triplets, scan_clip

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2014 Someone
License: GPL-2+

Files: desktop/Ubuntu-Mate-*-no-logo.png
 extra/*.png
Copyright: 2015 Someone else
License: CC-BY-SA-4.0

License: GPL-2+
 text
"""


def test_licence_of_each_file_from_a_dep5_copyright(tmp_path: Path) -> None:
    doc = tmp_path / "usr/share/doc/pkg"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    stanzas = deb_licences(tmp_path, "pkg")
    assert licence_for("usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo.png", stanzas) == "CC-BY-SA-4.0"
    assert licence_for("usr/share/backgrounds/mate/extra/a.png", stanzas) == "CC-BY-SA-4.0"
    assert licence_for("usr/share/backgrounds/mate/nature/Aqua.jpg", stanzas) == "GPL-2+"


def test_evaluation_data_is_refused(tmp_path: Path) -> None:
    assert is_held_out("/somewhere/free_clips/cockatoo.mp4")
    assert is_held_out("/x/middlebury_other/other-data/Venus/frame10.png")
    assert is_held_out("/x/sintel_raft_demo/frame_0016.png")
    # a renamed copy of balle1-vp9.avi is caught by its content hash
    assert is_held_out(
        tmp_path / "renamed.avi", sha256="7d1e3de70031f8cdae5bb9727b0d1023b3126c89b5dec1c622175bb27610f35a"
    )
    other = tmp_path / "fine.avi"
    other.write_bytes(b"not evaluation data")
    assert not is_held_out(other)
    with pytest.raises(HeldOutError):
        check_not_held_out(tmp_path / "VID_20191220_170832.mp4", sha256="0" * 64)


def test_clip_triplets_skip_cuts_and_duplicates(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=14, cut_at=8, duplicates=(4,))
    steps = scan_clip(clip)
    assert steps.frames == 14
    assert np.flatnonzero(steps.cuts).tolist() == [7]  # frames 7 -> 8
    assert np.flatnonzero(steps.duplicates).tolist() == [3]  # frame 4 repeats frame 3
    triplets = plan_triplets(steps)
    assert (0, 1, 2) in triplets
    assert not any(a <= 3 < c for a, _, c in triplets)  # nothing spans the duplicate step 3 -> 4
    assert not any(a <= 7 < c for a, _, c in triplets)  # nor the cut
    assert (4, 6, 8) not in plan_triplets(steps, gaps=(2,))  # spans the cut
    assert (8, 10, 12) in plan_triplets(steps, gaps=(2,))
