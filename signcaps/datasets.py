"""Known public datasets: where they come from and how their bytes are verified.

GitHub's zip archives are generated on request and carry no published checksum, so the
digits dataset is verified file by file: every image named in the shipped sha256 manifest
must be present with exactly those bytes. Images the manifest does not list are kept and
reported as unverified.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
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
        note="Sign Language Digits Dataset (Turkey Ankara Ayrancı Anadolu High School); 100x100 RGB, one folder per digit",
    ),
}


@dataclass
class FetchResult:
    path: Path
    verified: int
    unverified: int


def read_manifest(name: str) -> dict[str, str]:
    text = resources.files("signcaps.resources").joinpath(name).read_text()
    entries = (line.split(None, 1) for line in text.splitlines() if line.strip())
    return {path.strip(): digest for digest, path in entries}


def fetch(key: str, dest_root: Path, archive: Path | None = None, timeout: float = 60.0) -> FetchResult:
    """Download (or take `archive`) and extract into dest_root/<name>, verified against the manifest."""
    if key not in DATASETS:
        raise FetchError(f"unknown dataset {key!r}; known: {', '.join(DATASETS)}")
    source = DATASETS[key]
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
        return _install(source, zip_path, dest_root / source.name)


def _install(source: DatasetSource, src: Path, target: Path) -> FetchResult:
    manifest = read_manifest(source.manifest)
    staging = target.with_name(target.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    files = _archive_members(src, source.inner_dir)
    verified, unverified, bad = 0, 0, []
    for rel, read in files.items():
        data = read()
        key = f"{source.inner_dir}/{rel}"
        expected = manifest.get(key)
        if expected is None:
            unverified += 1
        elif hashlib.sha256(data).hexdigest() != expected:
            bad.append(key)
            continue
        else:
            verified += 1
        out = staging / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    missing = sorted(set(manifest) - {f"{source.inner_dir}/{r}" for r in files})
    if bad or missing:
        shutil.rmtree(staging, ignore_errors=True)
        raise FetchError(f"{src} does not match the {source.name} manifest: {len(bad)} changed, {len(missing)} missing "
                         f"(e.g. {(bad + missing)[0]})")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return FetchResult(target, verified, unverified)


def _archive_members(src: Path, inner_dir: str) -> dict:
    """Class-folder images below `inner_dir`, from a zip archive or an already extracted folder."""
    if src.is_dir():
        base = next((p for p in [src / inner_dir, *src.glob(f"*/{inner_dir}"), src] if p.is_dir() and any(p.glob("*/*"))), src)
        return {str(p.relative_to(base)): p.read_bytes for p in sorted(base.glob("*/*")) if p.is_file()}
    try:
        bundle = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError):
        raise FetchError(f"{src} is not a zip archive or folder") from None
    members = {}
    for name in bundle.namelist():
        parts = name.split("/")
        if inner_dir in parts and not name.endswith("/"):
            rel = parts[parts.index(inner_dir) + 1:]
            if len(rel) == 2:
                members["/".join(rel)] = (lambda n=name: bundle.read(n))
    if not members:
        raise FetchError(f"{src} has no {inner_dir}/<class>/<image> entries")
    return members
