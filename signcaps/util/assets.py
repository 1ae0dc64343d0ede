"""Where files come from: the user cache, checksummed downloads, and offline alternatives.

The hand model is resolved in this order: an explicit path -> $SIGNCAPS_HAND_MODEL -> the user
cache -> the official MediaPipe download -> a build from the TFLite files inside the
`mediapipe==0.10.21` wheel on PyPI. Every downloaded byte is checked against a pinned sha256.

Two named variants can be asked for instead of a path (`--hand-model full|lite`): `full` is the
chain above without the environment variable; `lite` pairs the wheel's smaller landmark network
with the full palm detector (the wheel's lite palm detector does not load in the Tasks API), is
cached as hand_landmarker_lite.task and, having no official download, is always built from the wheel.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from signcaps.util.errors import UserError

HAND_MODEL_ENV = "SIGNCAPS_HAND_MODEL"
CACHE_ENV = "SIGNCAPS_CACHE_DIR"
HAND_MODEL_NAME = "hand_landmarker.task"
LITE_HAND_MODEL_NAME = "hand_landmarker_lite.task"


class AssetError(UserError, RuntimeError):
    """A file that cannot be found, fetched or verified; the message says what to do."""


@dataclass(frozen=True)
class Download:
    url: str
    sha256: str
    size: int | None = None


# Pinned version 1 of the float16 bundle (the "latest" alias may change under us).
OFFICIAL_HAND_MODEL = Download(
    url="https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task",
    sha256="fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
    size=7_819_105,
)

# The same two networks ship inside this PyPI wheel; member name in the .task -> (wheel path, sha256).
WHEEL_SPEC = "mediapipe==0.10.21"
WHEEL_MEMBERS = {
    "hand_detector.tflite": (
        "mediapipe/modules/palm_detection/palm_detection_full.tflite",
        "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
    ),
    "hand_landmarks_detector.tflite": (
        "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
        "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
    ),
}
# The lite bundle: the same full palm detector, the lite landmark network (2.1 MB instead of 5.5 MB).
LITE_WHEEL_MEMBERS = {
    "hand_detector.tflite": WHEEL_MEMBERS["hand_detector.tflite"],
    "hand_landmarks_detector.tflite": (
        "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
        "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
    ),
}
VARIANTS = ("full", "lite")


def hand_model_tag(hand_model: str | Path | None) -> str:
    """"-lite" when a command will use the lite landmark network (asked for by name, or its file
    named by the argument or $SIGNCAPS_HAND_MODEL), else "": for cache keys, since the lite
    network gives other landmarks. Decided from the name alone (no resolution, no download), so a
    cache hit never needs the model file itself."""
    chosen = str(hand_model) if hand_model is not None else os.environ.get(HAND_MODEL_ENV, "")
    return "-lite" if chosen == "lite" or Path(chosen).name == LITE_HAND_MODEL_NAME else ""


def cache_dir() -> Path:
    """$SIGNCAPS_CACHE_DIR, else $XDG_CACHE_HOME/signcaps, else ~/.cache/signcaps; a file there
    (not a folder) is one AssetError line naming where the path came from."""
    if os.environ.get(CACHE_ENV):
        path, origin = Path(os.environ[CACHE_ENV]).expanduser(), f"${CACHE_ENV}"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path, origin = Path(base) / "signcaps", "the user cache folder"
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise AssetError(f"{origin} {path} cannot be a folder: {blocker} is a file; point {CACHE_ENV} at a folder")
    return path


def _make_cache_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AssetError(f"cannot create the cache folder {folder}: {err.strerror or type(err).__name__}") from None


def download(spec: Download, dest: Path, progress: Callable[[int, int | None], None] | None = None,
             timeout: float = 30.0) -> Path:
    """Fetch `spec.url` to `dest` atomically; refuse bytes whose sha256 differs."""
    from signcaps.util.outputs import new_temp_file, publish

    _make_cache_folder(dest.parent)
    host = urllib.request.urlparse(spec.url).netloc or spec.url
    tmp = new_temp_file(dest)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or spec.size
            done = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        tmp.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        raise AssetError(f"cannot download {spec.url} ({host} unreachable or refused: {reason})") from None
    if digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise AssetError(f"checksum mismatch for {spec.url}: got {digest.hexdigest()[:12]}…, expected "
                         f"{spec.sha256[:12]}…")
    try:
        publish(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def check_hand_model(path: Path) -> Path:
    """A MediaPipe .task bundle is an uncompressed zip holding the two TFLite networks."""
    if not path.is_file():
        raise AssetError(f"hand model not found: {path}")
    try:
        with zipfile.ZipFile(path) as bundle:
            names = set(bundle.namelist())
            compressed = [i.filename for i in bundle.infolist() if i.compress_type != zipfile.ZIP_STORED]
    except (zipfile.BadZipFile, OSError):
        raise AssetError(f"{path} is not a MediaPipe hand model (.task bundle)") from None
    missing = sorted(set(WHEEL_MEMBERS) - names)
    if missing:
        raise AssetError(f"{path} is not a hand landmarker bundle (missing {', '.join(missing)})")
    if compressed:
        raise AssetError(f"{path} is a compressed zip; MediaPipe needs it stored uncompressed (zip -0)")
    _check_member_roles(path)
    return path


# The networks signcaps knows by their sha256: which member each must be. A bundle holding a known
# network under the other member's name (the two swapped) passed the name check and then failed
# inside MediaPipe; custom networks (unknown digests) are left to MediaPipe's own check.
_KNOWN_ROLES = {digest: member for members in (WHEEL_MEMBERS, LITE_WHEEL_MEMBERS)
                for member, (_inner, digest) in members.items()}
_CHECKED: dict[tuple[str, int, int], None] = {}  # (path, size, mtime) of bundles already checked


def _check_member_roles(path: Path) -> None:
    info = path.stat()
    key = (str(path.resolve()), info.st_size, info.st_mtime_ns)
    if key in _CHECKED:
        return
    digests = {}
    try:
        with zipfile.ZipFile(path) as bundle:
            for member in WHEEL_MEMBERS:
                digest = hashlib.sha256()
                with bundle.open(member) as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                digests[member] = digest.hexdigest()
    except (zipfile.BadZipFile, OSError, EOFError):
        raise AssetError(f"{path} is a damaged hand model bundle (a member does not read back)") from None
    for member, digest in digests.items():
        role = _KNOWN_ROLES.get(digest)
        if role is not None and role != member:
            raise AssetError(f"{path} holds the {role} network as {member}: the two networks are swapped; "
                             f"use the official hand_landmarker.task or `signcaps models pull`")
    _CHECKED[key] = None


def build_from_wheel(wheel: Path, dest: Path, members: dict[str, tuple[str, str]] = WHEEL_MEMBERS) -> Path:
    """Write a .task bundle from the TFLite files inside a mediapipe wheel, verified member by member."""
    from signcaps.util.outputs import new_temp_file, publish

    _make_cache_folder(dest.parent)
    tmp = new_temp_file(dest)
    try:
        with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as out:
            for member, (inner, expected) in members.items():
                try:
                    data = src.read(inner)
                except KeyError:
                    raise AssetError(f"{wheel.name} has no {inner}") from None
                got = hashlib.sha256(data).hexdigest()
                if got != expected:
                    raise AssetError(f"{inner} in {wheel.name} has sha256 {got[:12]}…, expected {expected[:12]}…")
                out.writestr(member, data)
    except zipfile.BadZipFile:
        tmp.unlink(missing_ok=True)
        raise AssetError(f"{wheel} is not a wheel (zip)") from None
    except (AssetError, OSError) as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, AssetError):
            raise
        raise AssetError(f"cannot write {dest}: {err.strerror or type(err).__name__}") from None
    try:
        publish(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def fetch_wheel(workdir: Path) -> Path:
    """`pip download` the pinned mediapipe wheel (any platform's wheel carries the same models)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
           "--platform", "manylinux_2_28_x86_64", "--disable-pip-version-check", "-q", "-d", str(workdir), WHEEL_SPEC]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(workdir.glob("mediapipe-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise AssetError(f"cannot fetch {WHEEL_SPEC} from PyPI: {last}")
    return wheels[0]


def explicit_hand_model(explicit: str | Path | None) -> Path | None:
    """The user's own choice (flag, then environment), checked; None when they made none."""
    if explicit and str(explicit) in VARIANTS and not Path(explicit).exists():
        return None  # a named variant, resolved by resolve_hand_model
    if explicit:
        return check_hand_model(Path(explicit).expanduser())
    if os.environ.get(HAND_MODEL_ENV):
        path = Path(os.environ[HAND_MODEL_ENV]).expanduser()
        try:
            return check_hand_model(path)
        except AssetError as err:
            raise AssetError(f"{err} (from ${HAND_MODEL_ENV})") from None
    return None


def resolve_hand_model(explicit: str | Path | None = None, allow_fetch: bool = True,
                       log: Callable[[str], None] = lambda _msg: None,
                       official: Download = OFFICIAL_HAND_MODEL) -> Path:
    """Find (or fetch) the hand model following the documented chain."""
    variant = str(explicit) if explicit and str(explicit) in VARIANTS and not Path(explicit).exists() else None
    if variant == "lite":
        return resolve_lite_hand_model(allow_fetch, log)
    chosen = None if variant else explicit_hand_model(explicit)
    if chosen is not None:
        return chosen
    cached = cache_dir() / HAND_MODEL_NAME
    if cached.is_file():
        return check_hand_model(cached)
    if not allow_fetch:
        raise AssetError(missing_model_message())
    errors = []
    try:
        log(f"downloading {official.url}")
        return check_hand_model(download(official, cached))
    except AssetError as err:
        errors.append(str(err))
    try:
        log(f"building the hand model from the {WHEEL_SPEC} wheel on PyPI")
        with tempfile.TemporaryDirectory() as tmp:
            return check_hand_model(build_from_wheel(fetch_wheel(Path(tmp)), cached))
    except AssetError as err:
        errors.append(str(err))
    raise AssetError(f"{missing_model_message()} [tried: {'; '.join(errors)}]")


def resolve_lite_hand_model(allow_fetch: bool = True, log: Callable[[str], None] = lambda _msg: None) -> Path:
    """The lite bundle: from the cache, else built from the pinned wheel on PyPI (no official download)."""
    cached = cache_dir() / LITE_HAND_MODEL_NAME
    if cached.is_file():
        return check_hand_model(cached)
    if not allow_fetch:
        raise AssetError(f"no lite hand model in {cached.parent}: run `signcaps models pull --hand-model lite` "
                         f"where PyPI is reachable")
    log(f"building the lite hand model from the {WHEEL_SPEC} wheel on PyPI")
    with tempfile.TemporaryDirectory() as tmp:
        return check_hand_model(build_from_wheel(fetch_wheel(Path(tmp)), cached, LITE_WHEEL_MEMBERS))


def missing_model_message() -> str:
    return (f"no hand model: pass --hand-model PATH or set {HAND_MODEL_ENV} to a hand_landmarker.task, "
            f"or run `signcaps models pull` where the internet or PyPI is reachable")
