"""The real clips a pack is built from: the prepared cache's and those of clip folders, with licences.

A clip folder (such as ``shared/data/train_clips``) holds video files, and may hold a ``SOURCES.md``
whose table has ``file`` and ``licence`` columns, and a ``SHA256SUMS`` that every file must match.
Held-out evaluation data is refused by name and SHA-256 (:mod:`.holdout`), as everywhere in training.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from aprvfi_cli.data.holdout import check_not_held_out, sha256_file
from aprvfi_cli.data.pack import PackError
from aprvfi_cli.data.sources import load_manifest

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".ogv", ".m4v", ".ts"})

# Cuts a clip folder's SOURCES.md names, as inclusive ranges of steps (step i: frame i -> i + 1). The
# thresholds of `judge_steps` catch a hard cut, but not every step of a dissolve, whose frames each
# change only a little.
KNOWN_CUTS: dict[str, tuple[tuple[int, int], ...]] = {
    # hard cut at 1.75 s: frame 42 opens the second shot
    "exoplayer__roadtrip-vp92-10bit.webm": ((41, 41),),
    # dissolve through white: frames 13-23 brighten to white (frame 18) and back (mean luma 0.36 -> 1.0 -> 0.34)
    "openmpf-components__scene_change.mp4": ((12, 23),),
}


@dataclass(frozen=True)
class SourceClip:
    """A real clip to pack.

    Attributes:
        path: the file.
        source: where it came from, as the manifest records it (``cache:clips/x.avi``, ``train_clips:y.mp4``).
        sha256: of the file.
        licence: as its source states it (``unknown`` where nothing does).
        origin: who published it, where (a package and its version, or the folder's SOURCES.md).
        known_cuts: inclusive step ranges to treat as cuts besides those detected.
    """

    path: Path
    source: str
    sha256: str
    licence: str
    origin: str
    known_cuts: tuple[tuple[int, int], ...]

    @property
    def name(self) -> str:
        """The pack's name for the clip: the file's name with dots as underscores (as the store's groups)."""
        return self.path.name.replace(".", "_")


def cache_clips(cache: str | Path) -> list[SourceClip]:
    """The clips of a prepared cache (``aprvfi data prepare``), in its manifest's order."""
    cache = Path(cache)
    manifest = load_manifest(cache)
    entries = {e["file"]: (s, e) for s in manifest["sources"] for e in s["files"]}
    found = []
    for name in manifest["clips"]:
        path, (package, entry) = cache / name, entries[name]
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise PackError(f"{path} does not match its SHA-256 in the cache manifest")
        check_not_held_out(path, sha256=entry["source_sha256"])
        check_not_held_out(path, sha256=digest)
        origin = f"{package['kind']} package {package['package']} {package['version']}: {entry['source_path']}"
        found.append(SourceClip(path, f"cache:{name}", digest, entry["licence"], origin, KNOWN_CUTS.get(path.name, ())))
    return found


def folder_licences(folder: Path) -> dict[str, str]:
    """File name -> licence from the table of ``folder/SOURCES.md`` with ``file`` and ``licence`` columns."""
    path = folder / "SOURCES.md"
    if not path.is_file():
        return {}
    licences: dict[str, str] = {}
    columns: list[str] | None = None
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if columns is None:
            columns = [cell.lower() for cell in cells]
        elif "file" in columns and "licence" in columns and len(cells) == len(columns):
            name = cells[columns.index("file")].strip("`")
            if not set(name) <= {"-", ":", " "}:  # the separator row
                licences[name] = cells[columns.index("licence")]
    return licences


def folder_sums(folder: Path) -> dict[str, str]:
    """File name -> SHA-256 from ``folder/SHA256SUMS`` (``sha256sum`` output), if there is one."""
    path = folder / "SHA256SUMS"
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([0-9a-f]{64})\s+\*?(.+)$", line.strip())
        if match:
            sums[Path(match.group(2)).name] = match.group(1)
    return sums


def folder_clips(folder: str | Path) -> list[SourceClip]:
    """The video files of a clip folder, by name, with their licences; each must match SHA256SUMS if listed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no clip folder {folder}")
    licences, sums = folder_licences(folder), folder_sums(folder)
    found = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES):
        digest = sha256_file(path)
        check_not_held_out(path, sha256=digest)
        if path.name in sums and sums[path.name] != digest:
            raise PackError(f"{path} does not match its SHA-256 in {folder / 'SHA256SUMS'}")
        licence, origin = licences.get(path.name, "unknown"), f"{folder.name}/SOURCES.md"
        cuts = KNOWN_CUTS.get(path.name, ())
        found.append(SourceClip(path, f"{folder.name}:{path.name}", digest, licence, origin, cuts))
    if not found:
        raise FileNotFoundError(f"no video files in {folder}")
    return found


def write_notices(out: Path, clips: list[SourceClip], entries: list[dict]) -> None:
    """``out/NOTICE.md``: each packed clip's origin, licence and what was changed; and a verbatim copy of
    every clip folder's SOURCES.md (attributions, licence quotes) under ``out/sources/``."""
    by_source = {clip.source: clip for clip in clips}
    lines = [
        "# Third-party clips in this pack",
        "",
        "Every file under shard folders is a clip that others made, changed here: area-downscaled to the size",
        "given, only the frames listed in manifest.json kept, re-encoded with libx264. Each keeps its own",
        "licence below (not this repository's). The attributions and licence texts of the clip folders are",
        "copied verbatim under sources/.",
        "",
        "| file | original | published as | licence | kept |",
        "|---|---|---|---|---|",
    ]
    for entry in entries:
        clip = by_source[entry["source"]]
        kept = f"{entry['frames']} of {entry['source_frames']} frames, {entry['width']}x{entry['height']}"
        lines.append(f"| {entry['file']} | {clip.path.name} | {clip.origin} | {clip.licence} | {kept} |")
    (out / "NOTICE.md").write_text("\n".join(lines) + "\n")
    for folder in sorted({clip.path.parent for clip in clips if not clip.source.startswith("cache:")}):
        if (folder / "SOURCES.md").is_file():
            (out / "sources").mkdir(exist_ok=True)
            shutil.copyfile(folder / "SOURCES.md", out / "sources" / f"{folder.name}.SOURCES.md")
