"""What is installed around signcaps: the OpenCV distributions behind `cv2`, whether that cv2 can
open a window, and the optional training stack (`signcaps[train]`).

Four PyPI distributions install the same `cv2` package. mediapipe requires
`opencv-contrib-python` (the full build, with the GUI `live` and `collect` need);
albumentations (training only) requires `opencv-python-headless`. Installed together, the one
installed last owns the files both claim: a headless `cv2` ("no window") or a mix of two
builds (no `cvtColor` after either is uninstalled). `signcaps doctor` reports it and `--fix`
repairs it (signcaps/runtime/doctor.py); the functions here only look, cheaply, from the
distributions' metadata and OpenCV's own build information.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import metadata

from signcaps.util.errors import UserError

# Every distribution that writes cv2/; the first is the one signcaps wants (mediapipe requires it).
OPENCV_DISTRIBUTIONS = ("opencv-contrib-python", "opencv-python", "opencv-python-headless",
                        "opencv-contrib-python-headless")
WANTED_OPENCV = OPENCV_DISTRIBUTIONS[0]
# The local version label of the empty stand-ins `doctor --fix` installs for the names other
# packages require (albumentations: opencv-python-headless): metadata only, no cv2 files.
PLACEHOLDER_LABEL = "signcaps.placeholder"

TRAIN_EXTRA = "pip install 'signcaps[train]'"
TRAIN_MODULES = ("torch", "albumentations")  # what `signcaps[train]` adds to the base install


class MissingExtra(UserError, ImportError):
    """A command that needs the training extra, run on the base install (one line: how to add it)."""


@dataclass(frozen=True)
class OpenCvDistribution:
    name: str
    version: str
    cv2_files: int  # files under cv2/ its RECORD lists (0 for a placeholder)

    @property
    def placeholder(self) -> bool:
        return PLACEHOLDER_LABEL in self.version

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def opencv_distributions() -> list[OpenCvDistribution]:
    """The installed distributions that write (or stand in for) cv2, in OPENCV_DISTRIBUTIONS order."""
    found = []
    for name in OPENCV_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        files = sum(1 for f in (dist.files or []) if f.parts and f.parts[0] == "cv2")
        found.append(OpenCvDistribution(name, dist.version, files))
    return found


def real_opencv_distributions() -> list[OpenCvDistribution]:
    """Those that install cv2 files (placeholders left out): exactly one in a healthy install."""
    return [d for d in opencv_distributions() if not d.placeholder]


def opencv_gui() -> str | None:
    """The GUI backend the imported cv2 was built with ('QT5', 'GTK3', 'WIN32UI', ...), None for a
    headless build or when cv2 does not import. Read from OpenCV's build information: the
    distribution names say what was asked for, this says what the files on disk are."""
    try:
        import cv2

        info = cv2.getBuildInformation()
    except (ImportError, AttributeError):
        return None
    for line in info.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "GUI":
            value = value.strip()
            return None if not value or value.upper() == "NONE" else value
    return None


def window_unavailable() -> str | None:
    """Why this cv2 cannot open a window at all (a headless build), naming the build; None when it can.

    Whether a display is reachable is a separate question (`window.display_available`)."""
    if opencv_gui() is not None:
        return None
    real = real_opencv_distributions()
    builds = ", ".join(map(str, real)) or "no OpenCV distribution"
    return (f"this OpenCV has no GUI support ({builds}; cv2 built without a window backend): "
            f"run `signcaps doctor --fix` to keep only {WANTED_OPENCV}")


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (find_spec only)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_training_modules() -> list[str]:
    return [name for name in TRAIN_MODULES if not installed(name)]


def require_training_extra(command: str) -> None:
    """Raise MissingExtra naming the install command when torch or albumentations is absent."""
    missing = missing_training_modules()
    if missing:
        raise MissingExtra(f"`signcaps {command}` needs the training extra ({', '.join(missing)} not installed): "
                           f"{TRAIN_EXTRA}")
