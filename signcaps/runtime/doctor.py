"""`signcaps doctor`: the environment in one report, each problem with its fix; `--fix` repairs OpenCV.

The one repair it makes itself is the OpenCV mix (signcaps/util/environment.py): the base install
holds only `opencv-contrib-python` (mediapipe's requirement, with the GUI); `signcaps[train]`
adds albumentations, which requires `opencv-python-headless`, whose files then overwrite the
same cv2 package. `fix_opencv` uninstalls every OpenCV distribution, reinstalls
`opencv-contrib-python` at its version (files only, `--no-deps`), and, for each removed name
that an installed package still requires, installs a placeholder: an empty distribution of
that name (version `<contrib version>+signcaps.placeholder`, no files) whose only content is
the requirement `opencv-contrib-python==<version>`. So cv2 has exactly one owner, the GUI
works, and `pip check` is clean, since albumentations' requirement is met by the stand-in and
the stand-in's by the real build. No placeholder is made for names nothing requires.
"""
from __future__ import annotations

import base64
import hashlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from signcaps import __version__
from signcaps.util.environment import (
    OPENCV_DISTRIBUTIONS,
    PLACEHOLDER_LABEL,
    TRAIN_EXTRA,
    WANTED_OPENCV,
    installed,
    opencv_distributions,
    opencv_gui,
)
from signcaps.util.errors import UserError

CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


class DoctorError(UserError, RuntimeError):
    """A repair that could not be made (pip failed, PyPI unreachable); the message says what to run."""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None  # what to run when not ok
    optional: bool = False  # missing but not needed by the base install (torch, albumentations)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and not c.optional]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "checks": [asdict(c) for c in self.checks]}


# ------------------------------------------------------------------------------ looking

def opencv_check() -> Check:
    """One real OpenCV distribution, the one mediapipe wants, with a GUI; placeholders named."""
    dists = opencv_distributions()
    real = [d for d in dists if not d.placeholder]
    gui = opencv_gui()
    try:
        import cv2

        where = f"cv2 {cv2.__version__} from {Path(cv2.__file__).parent}"
        works = hasattr(cv2, "cvtColor")
    except ImportError as err:
        where, works = f"cv2 does not import ({err})", False
    listed = ", ".join(f"{d}{' (placeholder, no files)' if d.placeholder else ''}" for d in dists) or "none"
    detail = f"{listed}; {where}; GUI: {gui or 'none (headless build)'}"
    fix = "signcaps doctor --fix"
    if not real:
        return Check("opencv", False, detail, f"pip install {WANTED_OPENCV}")
    if len(real) > 1:
        return Check("opencv", False, f"{len(real)} distributions share cv2 (mixed install): {detail}", fix)
    if real[0].name != WANTED_OPENCV or not works or gui is None:
        return Check("opencv", False, f"{detail} (signcaps wants {WANTED_OPENCV}, with a GUI)", fix)
    return Check("opencv", True, detail)


def _version_of(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def runtime_checks() -> list[Check]:
    """MediaPipe and onnxruntime (the base install), torch and albumentations (the training extra)."""
    checks = []
    try:
        from mediapipe.tasks.python import vision  # noqa: F401  (what signcaps.hands.detector uses)

        checks.append(Check("mediapipe", True, f"mediapipe {_version_of('mediapipe')} (Tasks API)"))
    except Exception as err:  # a broken cv2 or protobuf surfaces here as any exception
        checks.append(Check("mediapipe", False, f"mediapipe does not import: {str(err)[:160]}",
                            "pip install --force-reinstall mediapipe"))
    try:
        import onnxruntime

        checks.append(Check("onnxruntime", True, f"onnxruntime {onnxruntime.__version__} "
                                                 f"({', '.join(onnxruntime.get_available_providers())})"))
    except ImportError as err:
        checks.append(Check("onnxruntime", False, f"not importable: {err}", "pip install onnxruntime"))
    torch_version = _version_of("torch")
    if torch_version is None or not installed("torch"):
        checks.append(Check("torch", False, f"not installed: the base install (predict, live, web); training needs "
                                            f"{TRAIN_EXTRA}", f"{CPU_TORCH} && {TRAIN_EXTRA}", optional=True))
    else:
        build = "the CPU-only build" if "+cpu" in torch_version else "not the +cpu build: may carry CUDA"
        checks.append(Check("torch", True, f"torch {torch_version} ({build})"))
    album = _version_of("albumentations")
    checks.append(Check("albumentations", album is not None,
                        f"albumentations {album}" if album else "not installed (training augmentation only)",
                        None if album else TRAIN_EXTRA, optional=album is None))
    return checks


def hand_model_check() -> Check:
    from signcaps.util.assets import AssetError, resolve_hand_model

    try:
        path = resolve_hand_model(None, allow_fetch=False)
        return Check("hand model", True, f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    except AssetError as err:
        return Check("hand model", False, str(err), "signcaps models pull")


def cache_check() -> Check:
    from signcaps.util.assets import cache_dir

    root = cache_dir()
    if root.exists() and not root.is_dir():
        return Check("cache", False, f"{root} is not a folder", "remove it or set SIGNCAPS_CACHE_DIR elsewhere")
    if not root.is_dir():
        return Check("cache", True, f"{root} (empty: nothing fetched yet)")
    entries = sorted(p.name for p in root.iterdir())
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    writable = os.access(root, os.W_OK)
    return Check("cache", writable, f"{root}: {size / 1e6:.1f} MB ({', '.join(entries) or 'empty'})"
                                    f"{'' if writable else '; not writable'}",
                 None if writable else "set SIGNCAPS_CACHE_DIR to a writable folder")


def datasets_check() -> Check:
    from signcaps.data.datasets import DATASETS, installed_root

    found = {key: installed_root(key) for key in DATASETS}
    detail = "; ".join(f"{key}: {path if path else 'not fetched'}" for key, path in found.items())
    return Check("datasets", True, detail, optional=True)


def default_model_check(signs: str = "digits") -> Check:
    from signcaps.runtime.classifier import default_model_path, load_classifier

    path = default_model_path(signs)
    name = "default model" if signs == "digits" else f"{signs} model"
    try:
        clf = load_classifier(None, signs=signs)
        return Check(name, True, f"{path} ({clf.meta.get('model')}, classes {', '.join(clf.classes)})")
    except Exception as err:  # a damaged install: the file is missing or unreadable
        return Check(name, False, f"{path}: {str(err)[:160]}", "pip install --force-reinstall signcaps")


def pip_check() -> Check:
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    if done.returncode == 0:
        return Check("pip check", True, lines[0] if lines else "no broken requirements")
    if "No module named pip" in done.stderr:
        return Check("pip check", True, "pip is not installed in this environment", optional=True)
    return Check("pip check", False, "; ".join(lines[:4]), "signcaps doctor --fix")


def diagnose() -> Report:
    """Every check; cheap enough to run as the first thing a bug report asks for (~2 s)."""
    where = Path(__file__).resolve().parents[1]  # the signcaps package folder
    report = Report([Check("signcaps", True, f"signcaps {__version__} at {where}; Python {platform.python_version()} "
                                             f"on {platform.system()} {platform.machine()}")])
    report.checks.append(opencv_check())
    report.checks += runtime_checks()
    report.checks += [hand_model_check(), default_model_check(), default_model_check("letters"), cache_check(),
                      datasets_check(), pip_check()]
    return report


# ------------------------------------------------------------------------------ repairing

def _pip(*args: str) -> None:
    import importlib
    done = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        last = ([line for line in done.stderr.splitlines() if line.strip()] or ["no output"])[-1]
        raise DoctorError(f"`pip {' '.join(args)}` failed: {last[:200]}")
    importlib.invalidate_caches()  # importlib.metadata must see the dist-info folders pip just changed


def _required_names() -> set[str]:
    """Lower-case names of every distribution some installed distribution requires (markers ignored)."""
    names = set()
    for dist in metadata.distributions():
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            match = re.match(r"\s*([A-Za-z0-9._-]+)", requirement)
            if match:
                names.add(match.group(1).lower().replace("_", "-"))
    return names


def placeholder_wheel(name: str, version: str, folder: Path) -> Path:
    """An empty wheel named `name` that requires opencv-contrib-python==`version` (see the module docstring)."""
    tag = f"{version}+{PLACEHOLDER_LABEL}"
    dist = name.replace("-", "_")
    info = f"{dist}-{tag}.dist-info"
    files = {
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {tag}\n"
                             f"Summary: placeholder installed by `signcaps doctor --fix`: cv2 comes from "
                             f"{WANTED_OPENCV} {version}\nRequires-Dist: {WANTED_OPENCV}=={version}\n"),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: signcaps doctor\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    path = folder / f"{dist}-{tag}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        record = []
        for member, text in files.items():
            data = text.encode()
            wheel.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{member},sha256={digest},{len(data)}")
        wheel.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    return path


def fix_opencv(log=lambda _msg: None) -> list[str]:
    """Leave exactly one OpenCV (opencv-contrib-python) plus the placeholders other packages need.
    Returns what was done; nothing when the install is already healthy."""
    done = []
    if not opencv_check().ok:
        dists = opencv_distributions()
        contrib = next((d for d in dists if d.name == WANTED_OPENCV), None)
        requested = f"{WANTED_OPENCV}=={contrib.version}" if contrib else WANTED_OPENCV
        if dists:
            log(f"uninstalling {', '.join(d.name for d in dists)}")
            _pip("uninstall", "-y", *(d.name for d in dists))
            done.append(f"uninstalled {', '.join(map(str, dists))}")
        log(f"installing {requested} (its files only: --no-deps)")
        try:
            _pip("install", "--no-deps", "--force-reinstall", requested)
        except DoctorError as err:
            raise DoctorError(f"{err}; cv2 is missing now: run `pip install {requested}` where PyPI is "
                              f"reachable") from None
        done.append(f"installed {WANTED_OPENCV} {metadata.version(WANTED_OPENCV)}")
    version = metadata.version(WANTED_OPENCV)
    stale = [d for d in opencv_distributions() if d.placeholder and not d.version.startswith(f"{version}+")]
    if stale:  # made for an earlier opencv-contrib-python: their pin no longer holds
        _pip("uninstall", "-y", *(d.name for d in stale))
    present = {d.name for d in opencv_distributions()}
    wanted = sorted(n for n in _required_names() if n in OPENCV_DISTRIBUTIONS and n not in present)
    if wanted:
        with tempfile.TemporaryDirectory() as tmp:
            wheels = [str(placeholder_wheel(name, version, Path(tmp))) for name in wanted]
            log(f"installing placeholder(s) for {', '.join(wanted)} (required by other packages)")
            _pip("install", "--no-deps", "--no-index", *wheels)
        done.append(f"placeholder(s) for {', '.join(wanted)}: no files, require {WANTED_OPENCV}=={version}")
    return done
