"""The travel pack (``aprvfi data pack``): the training clips as small H.264 files and their triplet tables.

A lent GPU machine receives the working tree only (at most 64 MiB, with the repository and the
chain head of the training run), has OpenCV and no PyAV, and computes the EBME flow itself. So a
pack holds only frames and triplet indices, committed at the repository's top level::

    pack/manifest.json                 format, settings, shards, and per clip: file, SHA-256, size,
                                       source, licence, train and dev triplets (indices into its frames)
    pack/shard-00/<clip>.mp4           H.264, yuv420p (BT.601, limited range), only the frames that
                                       some kept triplet uses, in time order
    pack/NOTICE.md, pack/sources/      each clip's origin, licence and changes; the clip folders' SOURCES.md

Shards and the dev set: when every clip fits one shard's budget, ``shard-00`` holds everything
(one file per clip). Otherwise the dev tails of all clips go to a ``dev`` shard, always carried,
and the training parts are split by clips into ``shard-00``, ``shard-01``... each small enough to
travel beside the dev shard: :meth:`Pack.leg_shards` says which shards a leg carries.

This module reads a pack and must import without PyAV (the lent machine has none): OpenCV
decodes when it is importable, else PyAV, imported only then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aprvfi_cli.data.holdout import is_held_out, sha256_file
from aprvfi_cli.errors import InputError

PACK_FORMAT = "aprvfi-pack/1"
PACK_MANIFEST = "manifest.json"
DEV_SHARD = "dev"


def is_pack(root: str | Path) -> bool:
    """True if ``root`` holds a pack manifest (a prepared cache's manifest.json is of another format)."""
    path = Path(root) / PACK_MANIFEST
    try:
        return path.is_file() and json.loads(path.read_text()).get("format") == PACK_FORMAT
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


class PackError(InputError):
    """A pack that cannot be used: no manifest, another format, a missing or altered file, held-out data."""


@dataclass(frozen=True)
class PackClip:
    """One file of a pack and its triplets.

    Attributes:
        name: the clip's name (its source file's name, dots as underscores); a clip split across
            the dev shard and a training shard has one entry in each, with the same name.
        file: the mp4, relative to the pack's root.
        sha256: of that mp4.
        shard: the shard folder it lies in.
        width, height: frame size (px), even.
        frames: frames in the mp4.
        source: where the original came from (``cache:clips/x.avi``, ``train_clips:y.mp4``).
        source_sha256: of the original file (the held-out rule is checked against it).
        licence: the original's licence.
        synthetic: rendered, not filmed (train split only).
        train, dev: (N, 3) int64 frame indices into the mp4: input 0, truth, input 1.
        train_t, dev_t: (N,) float32 time of the truth between the inputs (0.5 for real footage).
    """

    name: str
    file: str
    sha256: str
    shard: str
    width: int
    height: int
    frames: int
    source: str
    source_sha256: str
    licence: str
    synthetic: bool
    train: np.ndarray
    train_t: np.ndarray
    dev: np.ndarray
    dev_t: np.ndarray

    @classmethod
    def from_entry(cls, entry: dict) -> PackClip:
        """The clip of a manifest entry (see :func:`aprvfi_cli.data.pack_build.build_pack`)."""
        return cls(
            name=entry["name"],
            file=entry["file"],
            sha256=entry["sha256"],
            shard=entry["shard"],
            width=int(entry["width"]),
            height=int(entry["height"]),
            frames=int(entry["frames"]),
            source=entry["source"],
            source_sha256=entry["source_sha256"],
            licence=entry["licence"],
            synthetic=bool(entry["synthetic"]),
            train=np.asarray(entry["train"], dtype=np.int64).reshape(-1, 3),
            train_t=np.asarray(entry["train_t"], dtype=np.float32),
            dev=np.asarray(entry["dev"], dtype=np.int64).reshape(-1, 3),
            dev_t=np.asarray(entry["dev_t"], dtype=np.float32),
        )

    @property
    def source_name(self) -> str:
        """The original file's name (``x.avi`` of ``cache:clips/x.avi``)."""
        return Path(self.source.split(":", 1)[-1]).name


class Pack:
    """A built pack: its manifest and clips; files are read only by :meth:`verify` and :meth:`decode`."""

    def __init__(self, root: Path, manifest: dict, clips: list[PackClip]) -> None:
        self.root = root
        self.manifest = manifest
        self.clips = clips

    @classmethod
    def open(cls, root: str | Path) -> Pack:
        """Read ``root/manifest.json`` and check every clip against the held-out rule (name and source SHA-256)."""
        root = Path(root)
        path = root / PACK_MANIFEST
        if not path.is_file():
            raise PackError(f"{root} is not a training pack (no {PACK_MANIFEST}); build it with `aprvfi data pack`")
        try:
            manifest = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PackError(f"{path} cannot be read as JSON: {error}") from error
        found = manifest.get("format") if isinstance(manifest, dict) else None
        if found != PACK_FORMAT:
            raise PackError(f"{path} is not a pack manifest of format {PACK_FORMAT} (found {found!r})")
        try:
            clips = [PackClip.from_entry(entry) for entry in manifest["clips"]]
        except (KeyError, TypeError, ValueError) as error:
            raise PackError(f"{path} has a malformed clip entry ({type(error).__name__}: {error})") from error
        for clip in clips:
            for name in (clip.source_name, clip.name):
                if is_held_out(Path(name), sha256=clip.source_sha256):
                    raise PackError(f"{clip.file} in {root} is held-out evaluation data and must not be used")
        return cls(root, manifest, clips)

    def shard_names(self) -> list[str]:
        """Every shard the manifest lists, the dev shard (if any) first."""
        return [shard["name"] for shard in self.manifest["shards"]]

    def leg_shards(self, leg: int) -> list[str]:
        """The shards leg number ``leg`` (0, 1, ...) carries: the dev shard, if separate, and one training
        shard in turn, so successive legs cycle through all the training data."""
        training = [name for name in self.shard_names() if name != DEV_SHARD]
        dev = [DEV_SHARD] if DEV_SHARD in self.shard_names() else []
        return dev + [training[leg % len(training)]]

    def path(self, clip: PackClip) -> Path:
        return self.root / clip.file

    def present(self) -> list[PackClip]:
        """The clips whose file is here (a leg may carry only some shards)."""
        return [clip for clip in self.clips if self.path(clip).is_file()]

    def verify(self, clips: list[PackClip] | None = None) -> None:
        """Check the SHA-256 of ``clips``' files (default: every clip of the manifest)."""
        for clip in self.clips if clips is None else clips:
            path = self.path(clip)
            if not path.is_file():
                raise PackError(f"{path} is missing (shard {clip.shard} was not carried or is incomplete)")
            if sha256_file(path) != clip.sha256:
                raise PackError(f"{path} does not match its SHA-256 in the pack manifest: rebuild the pack")

    def decode(self, clip: PackClip, indices: Sequence[int] | None = None) -> np.ndarray:
        """The frames of ``clip``'s file as (frames, height, width, 3) uint8 RGB.

        Args:
            clip: one of this pack's clips.
            indices: only these frames, in this order, as (len(indices), height, width, 3); None: every frame.

        OpenCV decodes when it is importable (the lent GPU machines), else PyAV. The frame count and
        size must match the manifest.
        """
        path = self.path(clip)
        if not path.is_file():
            raise PackError(f"{path} is missing (shard {clip.shard} was not carried or is incomplete)")
        wanted = list(range(clip.frames)) if indices is None else [int(i) for i in indices]
        if any(not 0 <= i < clip.frames for i in wanted):
            raise PackError(f"{path} has frames 0-{clip.frames - 1}, not {max(wanted)}")
        slots: dict[int, list[int]] = {}
        for slot, index in enumerate(wanted):
            slots.setdefault(index, []).append(slot)
        out = np.empty((len(wanted), clip.height, clip.width, 3), dtype=np.uint8)
        count = 0
        for count, image in enumerate(_frames(path), start=1):
            if image.shape != (clip.height, clip.width, 3):
                size = f"{image.shape[1]}x{image.shape[0]}"
                raise PackError(f"{path} has {size} frames, the pack manifest says {clip.width}x{clip.height}")
            for slot in slots.get(count - 1, ()):
                out[slot] = image
        if count != clip.frames:
            raise PackError(f"{path} holds {count} frames, the pack manifest says {clip.frames}")
        return out


def _frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of an mp4 as (H, W, 3) uint8 RGB: OpenCV when importable, else PyAV."""
    try:
        import cv2
    except ImportError:
        yield from _frames_pyav(path)
        return
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise PackError(f"{path} cannot be opened by OpenCV")
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def _frames_pyav(path: Path) -> Iterator[np.ndarray]:
    try:
        import av
    except ImportError as error:
        raise PackError(f"decoding {path} needs OpenCV (cv2) or PyAV, and neither is installed") from error
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as error:
        raise PackError(f"{path} cannot be decoded: {error}") from error
