"""What must never enter training: the evaluation sets, by name and by content.

The SHA-256 list is that of the evaluation data's checksum file for Middlebury "other", the Sintel frames and
the three held-out clips, so a renamed copy is caught too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HELD_OUT_CLIPS = frozenset({"cockatoo.mp4", "VID_20191220_170832.mp4", "balle1-vp9.avi"})
# folder names of the held-out image sets
HELD_OUT_PARTS = frozenset({"middlebury_other", "other-data", "other-gt-interp", "sintel_raft_demo"})

HELD_OUT_SHA256 = frozenset(
    {
        "9b0710a436413f75cc3cd1c1048aa3c4d7c28f76f51ef6a25413d0018d22ec99",  # free_clips/VID_20191220_170832.mp4
        "7d1e3de70031f8cdae5bb9727b0d1023b3126c89b5dec1c622175bb27610f35a",  # free_clips/balle1-vp9.avi
        "5fde35f5a288ca86e216d2dc28188ab64b4560d3021f273faefdf0de80f38aa5",  # free_clips/cockatoo.mp4
        "431521d9dda3ecb648dadf67a528b17cf67957bcbffc6edf8800c3f07bd10321",  # other-data/Beanbags/frame10.png
        "2997379324ea61b2594148e990d04fd1e7470b49a75e6b456a420578ef8b714b",  # other-data/Beanbags/frame11.png
        "5ce0af3e00b80c5fb8a9b85ceae2e51b454839a2a89a47633f0f3885982c505f",  # other-data/Dimetrodon/frame10.png
        "7174b407aee61b6eec3d83c5111ea2f77eea41e58bbd48592e6d87600ad8e49b",  # other-data/Dimetrodon/frame11.png
        "e61be5be0b3fe1b31ce048c8a6bcfc5ff6cb589560f25c654b4c248fdf97cc12",  # other-data/DogDance/frame10.png
        "44f4f4ce3f5ce7ad2b96a6f7f6ae6d2b9f2c45ddbf322368fa6f505dd3e0bd9b",  # other-data/DogDance/frame11.png
        "91f8ceefe5fe477e654a40603431145754fee477c7537fd37c5f0690a60ed648",  # other-data/Grove2/frame10.png
        "deba56fc09462ac644977054a9ff60b8ee726e18f7e6b0d6cab72ab7c5624385",  # other-data/Grove2/frame11.png
        "e4945acdcdadca502904887fe2edcd02f4c978f72de9d8bf66558a04e208b21b",  # other-data/Grove3/frame07.png
        "0ff8b3b77ea05d0b0b27acec79e944eb365a91bd21276a58254b71b77930e908",  # other-data/Grove3/frame08.png
        "d9c39b8b7ec79ef6bf717581ed961bba1c7600e05d85c45ad6ea175b5ae222d5",  # other-data/Grove3/frame09.png
        "77db3739fa6a62159cd8b45e724f5958e467614bd8ac38e1bf2e0e321b41cac1",  # other-data/Grove3/frame10.png
        "3fb7f98c1a6b7fcf7e47fb7e772131137b634953d8e0080ba8880241275ecc7f",  # other-data/Grove3/frame11.png
        "df79e986007319615164542eaae58fc6a7aa289debedbd947a1cbdb68d7a3247",  # other-data/Grove3/frame12.png
        "e16d689641513abfe0240dfdcbcb6e8aa19be47abe825f5af771057f85d94ba8",  # other-data/Grove3/frame13.png
        "0b55b7f09be2e3a740ece617abd60decb9ce3eb61dcb45a89eec5651b6c04472",  # other-data/Grove3/frame14.png
        "4d43fa82b077f2ea85851ccba2c1ffe9205ab5982f18307a637529482bc1e310",  # other-data/Hydrangea/frame10.png
        "483511b0469f7f92232c958cadea36ea616fe0105ccfd20ae88e74644b1e793c",  # other-data/Hydrangea/frame11.png
        "5a78223e5b0d621940623cb454cef2dc49f09b3d968e4b0d212b484689d7cbc1",  # other-data/MiniCooper/frame10.png
        "38829e828a2ce62305d9ebb93a72164d6b942479d6bef64ec268a78cdb3dea07",  # other-data/MiniCooper/frame11.png
        "ac36e8aac2c5840bfd87e6d44b738a24fd18471de55eae84e8483269be190741",  # other-data/RubberWhale/frame07.png
        "fc0848733935180cca7eb6ada1caf639a409ed3a99ecc1762b6f9d2b87e30596",  # other-data/RubberWhale/frame08.png
        "a6d6253d80a552482e0f58a64dada95e1821d257834d50d7d3695837390db7f7",  # other-data/RubberWhale/frame09.png
        "eb312435369dac9efcc92f7e098edbd9ed8d7e6dfede8b3b4d8e3702cd80b796",  # other-data/RubberWhale/frame10.png
        "ee309a00d47b837b322ea5d9128775e0c46869b8014376286ba316a073d293ac",  # other-data/RubberWhale/frame11.png
        "f4d67f6f18c813f0bf9eec02d2e04af9faf9c548f45bbc318040bc302a7859f2",  # other-data/RubberWhale/frame12.png
        "68f024127541afe8931471abe9dc671ec8d8ee6b07df1650ab72d9b13d644cb3",  # other-data/RubberWhale/frame13.png
        "ac41090c366396431ec94dc97b2d0bb09d38241d30342d8de076a6f434b8f66c",  # other-data/RubberWhale/frame14.png
        "f5f87e9a1e0dc41911839d3b1f0e097bc4837ddb1df5d3602a5029f0ec74792a",  # other-data/Urban2/frame07.png
        "ca0395a3e54fb2c2f9d53a2289aa5bf2e8a3b0fa297b2bdcf163a28c8e51797f",  # other-data/Urban2/frame08.png
        "494168d8cc14db9de66bcbb97aa00ec1fcba229f07fa1b2c3636b89b37952353",  # other-data/Urban2/frame09.png
        "de02215cc095995a56fbb8c332f59e0de87fa78ea06a2eb105e170877287796a",  # other-data/Urban2/frame10.png
        "ecf1231725ac87f4c7e6d29e6e4f860828f3fc2d38ca5af9c628da254bcbefbb",  # other-data/Urban2/frame11.png
        "82d35bf6044e13b5d5386df7548ba5ec939f2a57dbc68b20ff7106b5f1f3d7f5",  # other-data/Urban2/frame12.png
        "bdb0bd39fb5af5adbbb19d2710a40cd98d6ba8cc3607837649caf6a8155e6541",  # other-data/Urban2/frame13.png
        "aadfc63b751f574ad75e367b23a32516d5943dcfdfb9d9beeded491fadb52196",  # other-data/Urban2/frame14.png
        "c579ba980fcf3703ffcb18616cdfeadcd9b6cc42564169b67fd27192498fd419",  # other-data/Urban3/frame10.png
        "6c03cc8375f15d0f29f6b2f66e55c56dfbdf9393f956293962e0b5fa5e044be4",  # other-data/Urban3/frame11.png
        "f36d77900848c4d5bf6f31898e43d3db4c912f474f273b331d7a96113ea5a637",  # other-data/Venus/frame10.png
        "45860656c48fec7fff1ed3528bd2d72f4f6dbf71c6d621fb2e0f48a531e617d0",  # other-data/Venus/frame11.png
        "2c913efde5f68efe82614c61ba4b96ef6356b6e43e4b1dfa639244ec5ce70e82",  # other-data/Walking/frame10.png
        "98aa79307905bc6ad4f81d79a0249bd42d3da25705e056d0e1516d29f7cae82c",  # other-data/Walking/frame11.png
        "df7469534527444ee72d7286000d1c46f48e63fca6bdfc53f3a02aa369e7e417",  # gt-interp/Beanbags/frame10i11.png
        "1a232f4c78eae554de79b96cb1d491554e8c6922d3343b6812993accc7c766a8",  # gt-interp/Dimetrodon/frame10i11.png
        "b62aced9acef5060278a536163da7a14bfad102acef7fc2f1ad8a8c3a0e7ee30",  # gt-interp/DogDance/frame10i11.png
        "b936a327ced78f0a237faa0da7e8be8c4528674d9e085a6107c36515ed9c4b58",  # gt-interp/Grove2/frame10i11.png
        "dbb75681c19adb100e62bc0327ad9bdb3ea0f094df82279c6d4333449d2f7e41",  # gt-interp/Grove3/frame10i11.png
        "9a8c6d66cd0f84fcbcc9689bcbf05955e675205ff9808739c7fbef9e4ed9725d",  # gt-interp/Hydrangea/frame10i11.png
        "0ecc7ee678b4e2316964c6cb79def1c2ba0945f632ee0710eab77966650ff7f8",  # gt-interp/MiniCooper/frame10i11.png
        "e26e02836ee70de5266d49e108d23599fdc3df1654e758475f6b701a59b38e95",  # gt-interp/RubberWhale/frame10i11.png
        "222896e67138255d6b821e1e2c8cfb51d2cd485d1749efd252dc9396b83da052",  # gt-interp/Urban2/frame10i11.png
        "aff6304811874923457a8eaec439fd2060a77f6b04e01b1c20e1ed15a3a6724f",  # gt-interp/Urban3/frame10i11.png
        "5830f6acd383cbc22afb0e35b7022b3d45eb9bed30a0c72ddef12b43ac8bbcd3",  # gt-interp/Venus/frame10i11.png
        "8e8ac0a355fc65ce9d15a4773fa85659000f293d6b8c8576e54e5ee80caeb4d8",  # gt-interp/Walking/frame10i11.png
        "5a815fe352c27c8fe94e19e5236bef3856ae22b9b9ee0b38ec406ef213faaaff",  # sintel_raft_demo/frame_0016.png
        "6c6f31f001dadddb9578dcc03f8bd53a045fe752311a53b9f9bcd1e1a1b2a329",  # sintel_raft_demo/frame_0017.png
        "5920eff6da437d8cb8bef7f2ac01428d72bae297b8b1690b5190aa9d12ca5bda",  # sintel_raft_demo/frame_0018.png
        "717bde9ea6425e4cfb8dede2d234d790c193caf68a20f154e0f1fc5b37f07757",  # sintel_raft_demo/frame_0019.png
        "7dcc6bf66864c11c33d357fe913ccfd4c5098c33660a6fe4fc18e8d2f6735eb2",  # sintel_raft_demo/frame_0020.png
        "3bffde53655579b67b1d092d0c7ac9a644a05655be989d5affd7f0b1962186e8",  # sintel_raft_demo/frame_0021.png
        "f842b5a1d7d50048e235818eb24cc3c41ce79ab4453eb0294b979097c9221231",  # sintel_raft_demo/frame_0022.png
        "800b478fe36a32472878382b8823a360142c2492c9e942a8ca2960fc52d05974",  # sintel_raft_demo/frame_0023.png
        "da5708ef12972068c85b18b6e252f70ddb71e447ac49c7ba3b1950846e3b5267",  # sintel_raft_demo/frame_0024.png
        "cc81e7a22534e6660492b1bbe3b90d1a86c01fb27f7fb52c76545ae745a60b0b",  # sintel_raft_demo/frame_0025.png
    }
)


class HeldOutError(ValueError):
    """Raised when evaluation data is about to be used for training."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_held_out(path: str | Path, *, sha256: str | None = None) -> bool:
    """True if ``path`` is (a copy of) evaluation data, by name, folder or content hash."""
    path = Path(path)
    if path.name in HELD_OUT_CLIPS or HELD_OUT_PARTS & set(path.parts):
        return True
    if path.name.startswith("frame10i11"):
        return True
    if sha256 is None and path.is_file():
        sha256 = sha256_file(path)
    return sha256 in HELD_OUT_SHA256


def check_not_held_out(path: str | Path, *, sha256: str | None = None) -> None:
    """Raise :class:`HeldOutError` if ``path`` is evaluation data."""
    if is_held_out(path, sha256=sha256):
        raise HeldOutError(f"{path} is held-out evaluation data and must not be used for training")
