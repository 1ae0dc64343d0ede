"""Known public datasets: where they come from and how their bytes are verified.

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
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from signcaps.errors import UserError


class FetchError(UserError, RuntimeError):
    """A dataset download that failed or did not verify."""


@dataclass(frozen=True)
class DatasetSource:
    name: str
    url: str
    inner_dir: str  # folder inside the archive that holds one sub-folder per class
    manifest: str  # sha256 manifest shipped in signcaps/resources
    licence: str
    note: str


DATASETS = {
    "digits": DatasetSource(
        name="sign-language-digits",
        url="https://github.com/ardamavi/Sign-Language-Digits-Dataset/archive/refs/heads/master.zip",
        inner_dir="Dataset",
        manifest="sign-language-digits.sha256",
        licence="Apache-2.0",
        note="Sign Language Digits Dataset (Turkey Ankara Ayrancı Anadolu High School); 100x100 RGB, one "
             "folder per digit",
    ),
}


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
    from signcaps.outputs import OutputError, check_not_inputs, check_replaceable, ensure_writable_dir

    target = Path(dest_root).expanduser() / source.name
    if archive is not None and target.exists() and Path(archive).resolve().is_relative_to(target.resolve()):
        raise OutputError(f"--from {archive} lies inside the install target {target}, which fetch replaces; "
                          f"move it elsewhere or choose another --dest")
    check_not_inputs(target, [archive], "--dest")  # never installed into the folder it is read from
    ensure_writable_dir(dest_root, "--dest")
    # A fetch replaces the whole install: never over images or folders the user added to it.
    manifest = read_manifest(source.manifest)
    check_replaceable(target, "the install target",
                      legacy=lambda rel, path: _manifest_file(manifest, source.inner_dir, rel, path))
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
    from signcaps.outputs import staged_dir

    manifest = read_manifest(source.manifest)
    files = _archive_members(src, source.inner_dir)
    verified, unverified, bad = 0, 0, []
    with staged_dir(target, "the install target") as staging:
        for rel, (size, read) in files.items():
            key = f"{source.inner_dir}/{rel}"
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
        missing = sorted(set(manifest) - {f"{source.inner_dir}/{r}" for r in files})
        if bad or missing:
            raise FetchError(f"{src} does not match the {source.name} manifest: {len(bad)} changed, "
                             f"{len(missing)} missing (e.g. {(bad + missing)[0]})")
    return FetchResult(target, verified, unverified)


def _manifest_file(manifest: dict[str, str], inner_dir: str, rel: str, path: Path) -> bool:
    """A file of an install made before signcaps recorded its outputs: ours when the manifest names
    it with these bytes."""
    from signcaps.outputs import file_digest

    expected = manifest.get(f"{inner_dir}/{rel}")
    return expected is not None and file_digest(path) == expected


def _archive_members(src: Path, inner_dir: str) -> dict:
    """Class-folder images below `inner_dir`, from a zip archive or an already extracted folder."""
    if src.is_dir():
        base = next((p for p in [src / inner_dir, *src.glob(f"*/{inner_dir}"), src]
                     if p.is_dir() and any(p.glob("*/*"))), src)
        files = [p for p in sorted(base.glob("*/*")) if p.is_file()]
        return {p.relative_to(base).as_posix(): (p.stat().st_size, p.read_bytes) for p in files}
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
            rel = parts[parts.index(inner_dir) + 1:]
            if len(rel) == 2:
                members["/".join(rel)] = (info.file_size, lambda n=name: bundle.read(n))
    if not members:
        raise FetchError(f"{src} has no {inner_dir}/<class>/<image> entries")
    return members
