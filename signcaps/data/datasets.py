"""Known public datasets: where they come from, how their bytes are verified, where they are found.

A dataset is named in a recipe (`data.root: digits`) or on the command line (`--data digits`);
`resolve_root` turns a name into the fetched copy: `$SIGNCAPS_DATA_DIR/<name>/` when that is
set, else the user cache (`<cache>/datasets/<name>/`, where `signcaps data fetch` installs).
Anything else is a folder path as given. No default ever points into a checkout or ../shared:
tests and the Makefile set SIGNCAPS_DATA_DIR to ../shared/datasets when they want that copy.

GitHub's zip archives are generated on request and carry no published checksum, so the
digits dataset is verified file by file: every image named in the shipped sha256 manifest
must be present with exactly those bytes. Images the manifest does not list are left out and
counted: only files whose bytes are pinned by the manifest are installed.

An archive is data from the internet: an entry named with an absolute path or `..` (a "zip
slip", which would write outside --dest) makes the whole archive refused, and no entry is read
into memory unless the manifest names it and its declared size is plausible.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from signcaps.util.errors import UserError

DATA_ENV = "SIGNCAPS_DATA_DIR"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class FetchError(UserError, RuntimeError):
    """A dataset download that failed or did not verify."""


class DatasetNotInstalled(UserError, FileNotFoundError):
    """A registered dataset named by a recipe or --data that has not been fetched (one line: how to)."""


def class_folder_layout(parts: list[str]) -> str | None:
    """`<class>/<image>` below the archive's folder, installed as it is (the digits)."""
    return "/".join(parts) if len(parts) == 2 else None


YOLO_SPLITS = ("train", "valid", "test")


def yolo_letter_layout(parts: list[str]) -> str | None:
    """A Roboflow YOLO export, `<split>/images/<L>...jpg` (the letter is the file name's first
    character; `labels/` and the yaml are left out) -> `<split>/<L>/<file>`. An already installed
    copy (`<split>/<L>/<file>`) maps to itself, so `--from` takes either."""
    if len(parts) != 3 or parts[0] not in YOLO_SPLITS or not parts[2].lower().endswith(IMAGE_SUFFIXES):
        return None
    letter = parts[2][:1].upper()
    if not letter.isalpha() or parts[1] not in ("images", letter):
        return None
    return f"{parts[0]}/{letter}/{parts[2]}"


@dataclass(frozen=True)
class DatasetSource:
    name: str  # the installed folder's name (also accepted wherever the key is)
    url: str
    inner_dir: str  # folder inside the archive that holds the dataset
    manifest: str  # sha256 manifest shipped in signcaps/resources
    licence: str
    note: str
    # path parts below inner_dir -> the installed relative path (None: not part of the dataset)
    layout: Callable[[list[str]], str | None] = class_folder_layout
    manifest_prefix: str = ""  # what the manifest's paths start with before the installed path
    stretch_x: float = 1.0  # widths x this undo how the photos were squashed (`folders.scan_folder`)


DATASETS = {
    "digits": DatasetSource(
        name="sign-language-digits",
        url="https://github.com/ardamavi/Sign-Language-Digits-Dataset/archive/refs/heads/master.zip",
        inner_dir="Dataset",
        manifest="sign-language-digits.sha256",
        licence="Apache-2.0",
        note="Sign Language Digits Dataset (Turkey Ankara Ayrancı Anadolu High School); 100x100 RGB, one "
             "folder per digit",
        manifest_prefix="Dataset/",
    ),
    # "American Sign Language Letters" v1 (David Lee, Roboflow export), pinned to one commit of a
    # public copy. The 24 static letters: the manifest leaves out J and Z (they move) and the labels.
    "asl-letters": DatasetSource(
        name="asl-letters",
        url="https://github.com/Beastojenisto/AmericanSignLanguageDetectorYOLOv8/archive/"
            "0199412f52ecb7adb1441695f7c926a773d8c53c.zip",
        inner_dir="American-Sign-Language-Letters-1",
        manifest="asl-letters.sha256",
        licence="Public Domain",
        note="ASL letters (static), 416x416 real photos, {train,valid,test}/<letter>/",
        layout=yolo_letter_layout,
        stretch_x=0.75,  # squashed from about 3:4 portraits to 416x416 squares
    ),
}


def known_stretch(name_or_path: str | Path) -> float:
    """How a registered dataset's photos are unsquashed, by its name or its installed folder's name
    (`../shared/datasets/asl-letters` too); 1.0 for any other folder."""
    key = dataset_key(name_or_path) or dataset_key(Path(name_or_path).name)
    return DATASETS[key].stretch_x if key else 1.0


def dataset_key(name: str | Path) -> str | None:
    """The registry key a name stands for (`digits` or its folder name `sign-language-digits`)."""
    text = str(name)
    for key, source in DATASETS.items():
        if text in (key, source.name):
            return key
    return None


def data_home() -> Path:
    """Where `data fetch` installs and dataset names resolve: $SIGNCAPS_DATA_DIR, else <cache>/datasets."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    from signcaps.util.assets import cache_dir

    return cache_dir() / "datasets"


def installed_root(key: str) -> Path | None:
    """The fetched copy of a registered dataset, None when it is not there."""
    path = data_home() / DATASETS[key].name
    return path if path.is_dir() else None


def resolve_root(name_or_path: str | Path) -> Path:
    """A dataset folder from a recipe value or a flag: a registered name (`digits`, `asl-letters`)
    is its fetched copy under `data_home()`; anything else is a folder path as given (write a
    folder that happens to share a dataset's name as `./digits`)."""
    key = dataset_key(name_or_path)
    if key is None:
        return Path(name_or_path).expanduser()
    found = installed_root(key)
    if found is None:
        raise DatasetNotInstalled(
            f"dataset {key} is not installed in {data_home()}: run `signcaps data fetch {key}` (offline: `--from "
            f"ARCHIVE`), or set {DATA_ENV} to a folder holding {DATASETS[key].name}/, or pass --data DIR")
    return found


MAX_MEMBER_BYTES = 16 * 1024 * 1024  # a dataset image is ~10 KB; a bigger entry is refused unread


@dataclass
class FetchResult:
    path: Path
    verified: int
    unverified: int  # files the manifest does not list: left out, not installed


def read_manifest(name: str) -> dict[str, str]:
    text = resources.files("signcaps.resources").joinpath(name).read_text()
    entries = (line.split(None, 1) for line in text.splitlines() if line.strip())
    return {path.strip(): digest for digest, path in entries}


def fetch(key: str, dest_root: Path, archive: Path | None = None, timeout: float = 60.0) -> FetchResult:
    """Download (or take `archive`) and extract into dest_root/<name>, verified against the manifest."""
    if key not in DATASETS:
        raise FetchError(f"unknown dataset {key!r}; known: {', '.join(DATASETS)}")
    source = DATASETS[key]
    from signcaps.util.outputs import OutputError, check_not_inputs, check_replaceable, ensure_writable_dir

    target = Path(dest_root).expanduser() / source.name
    if archive is not None and target.exists() and Path(archive).resolve().is_relative_to(target.resolve()):
        raise OutputError(f"--from {archive} lies inside the install target {target}, which fetch replaces; "
                          f"move it elsewhere or choose another --dest")
    check_not_inputs(target, [archive], "--dest")  # never installed into the folder it is read from
    ensure_writable_dir(dest_root, "--dest")
    # A fetch replaces the whole install: never over images or folders the user added to it.
    manifest = read_manifest(source.manifest)
    check_replaceable(target, "the install target",
                      legacy=lambda rel, path: _manifest_file(manifest, source.manifest_prefix, rel, path))
    with tempfile.TemporaryDirectory() as tmp:
        zip_path = archive or Path(tmp) / "archive.zip"
        if archive is None:
            try:
                with urllib.request.urlopen(source.url, timeout=timeout) as response, open(zip_path, "wb") as out:
                    shutil.copyfileobj(response, out)
            except (urllib.error.URLError, OSError, TimeoutError) as err:
                reason = getattr(err, "reason", None) or err
                raise FetchError(f"cannot download {source.url} ({reason}); offline? download it elsewhere and use "
                                 f"`signcaps data fetch {key} --from ARCHIVE_OR_FOLDER`") from None
        return _install(source, zip_path, target)


def _install(source: DatasetSource, src: Path, target: Path) -> FetchResult:
    """Verified files into a staged folder, swapped in by renames only when all of them verified."""
    from signcaps.util.outputs import staged_dir

    manifest = read_manifest(source.manifest)
    files = _archive_members(src, source)
    verified, unverified, bad = 0, 0, []
    with staged_dir(target, "the install target") as staging:
        for rel, (size, read) in files.items():
            key = f"{source.manifest_prefix}{rel}"
            expected = manifest.get(key)
            if expected is None:
                unverified += 1
                continue
            try:
                data = read() if size <= MAX_MEMBER_BYTES else b""
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError):  # a damaged entry counts as changed
                data = b""
            if hashlib.sha256(data).hexdigest() != expected:
                bad.append(key)
                continue
            verified += 1
            out = staging / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        missing = sorted(set(manifest) - {f"{source.manifest_prefix}{r}" for r in files})
        if bad or missing:
            raise FetchError(f"{src} does not match the {source.name} manifest: {len(bad)} changed, "
                             f"{len(missing)} missing (e.g. {(bad + missing)[0]})")
    return FetchResult(target, verified, unverified)


def _manifest_file(manifest: dict[str, str], prefix: str, rel: str, path: Path) -> bool:
    """A file of an install made before signcaps recorded its outputs: ours when the manifest names
    it with these bytes."""
    from signcaps.util.outputs import file_digest

    expected = manifest.get(f"{prefix}{rel}")
    return expected is not None and file_digest(path) == expected


def _archive_members(src: Path, source: DatasetSource) -> dict:
    """Installed relative path -> (size, read) for the dataset's files below `source.inner_dir`,
    from a zip archive or an already extracted (or installed) folder."""
    inner_dir = source.inner_dir
    if src.is_dir():
        base = next((p for p in [src / inner_dir, *src.glob(f"*/{inner_dir}"), src]
                     if p.is_dir() and any(p.glob("*/*"))), src)
        members = {}
        for path in sorted(base.rglob("*")):
            placed = source.layout(list(path.relative_to(base).parts)) if path.is_file() else None
            if placed is not None:
                members[placed] = (path.stat().st_size, path.read_bytes)
        return members
    try:
        bundle = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError):
        raise FetchError(f"{src} is not a zip archive or folder") from None
    members = {}
    for info in bundle.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise FetchError(f"{src} has an unsafe entry {name!r} (absolute path or '..'); refusing the whole archive")
        if inner_dir in parts and not name.endswith("/"):
            placed = source.layout(parts[parts.index(inner_dir) + 1:])
            if placed is not None:
                members[placed] = (info.file_size, lambda n=name: bundle.read(n))
    if not members:
        raise FetchError(f"{src} has no {inner_dir}/ entries of the {source.name} layout")
    return members
