"""Where commands write: checked before the work starts, written atomically, never over an input.

A command that computes for a minute and then fails on a read-only folder wastes the minute; a
command that overwrites its own input (``export best.pt -o best.pt``) or a file the user keeps
beside its outputs loses the user's file. So, for every command:

* **Checked first.** Every output path is checked before the work (one ``error:`` line naming
  the option): a regular file or absent (``check_output_file``: never a device such as
  /dev/null, a FIFO, a socket or a folder, which a rename would replace, and never opened to
  find out), writable, not one of the command's inputs,
  not inside an input folder, and, for the names a command picks itself inside a folder (a run
  folder's ``best.pt``, ``--out``'s plots, a site, an installed dataset), not a file the user
  put there: a command replaces only what signcaps wrote (``claim_files``, ``check_replaceable``).
* **Temporary names nobody else holds.** Work in progress lives under a random name created
  exclusively (``O_EXCL``, ``mkstemp``/``mkdtemp``) in the target's own folder, so the final
  rename is atomic and can never hit a user's ``X.part`` or ``X.previous``; the name carries the
  writer's pid, so what a killed process left behind is removed by the next writer there.
* **Renamed only after the write succeeded**, and fsynced first; on any failure (a full disk,
  Ctrl-C, an exception) the temporary file or folder is removed and the previous output stays.
* **What signcaps wrote is recorded** (name -> sha256 in ``.signcaps-outputs.json``) in the
  folders where it picks names itself; a file that is missing from the record or changed since
  is the user's, and is never replaced.
"""
from __future__ import annotations

import errno
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from signcaps.util.errors import UserError
from signcaps.util.inputs import file_kind

TEMP_TAG = ".signcaps-tmp-"  # hidden temporary names: .<stem>.signcaps-tmp-<pid>-<random><suffix>
RECORD_NAME = ".signcaps-outputs.json"  # in folders where signcaps picks the names: what it wrote
_TEMP_RE = re.compile(rf"^\..*{re.escape(TEMP_TAG)}(\d+)-[A-Za-z0-9_]{{6,}}")
_SWEPT: set[str] = set()  # folders whose stale temporaries this process already removed
_CLAIMED: set[str] = set()  # folders in which this process records what it writes
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class OutputError(UserError, OSError):
    """An output path that cannot be written, or that would overwrite an input (one line)."""


def _reason(err: OSError) -> str:
    if isinstance(err, NotADirectoryError):
        return "a parent is a file, not a folder"
    if isinstance(err, FileExistsError):
        return "a file is in the way of the folder"
    if err.errno == errno.ENOSPC:
        return "no space left on the device"
    return err.strerror or type(err).__name__


# ------------------------------------------------------------------------------ checks first


def ensure_writable_dir(path: str | Path, what: str, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Create ``path`` (with parents) and prove a file can be created in it; else OutputError.

    ``inputs``: files and folders the command reads; the folder may be none of them nor lie inside one.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is {_kind(path)}, not a folder")
    check_not_inputs(path, inputs, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".signcaps-probe-"):
            pass
    except OSError as err:
        raise OutputError(f"cannot write to {what} {path}: {_reason(err)}") from None
    return path


def check_output_file(path: str | Path, what: str) -> Path:
    """An output file is a regular file or absent; anything else is refused in one line, before any
    work. A rename would replace a device node (``-o /dev/null`` run as root: the system's
    /dev/null), a FIFO or a socket with a regular file, and opening a FIFO to write blocks until a
    reader comes: so the path is only ``stat``ed, never opened. A symlink counts as what it points to."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:  # absent, or a dangling symlink: a new file
        return path
    except OSError as err:
        raise OutputError(f"cannot write to {what} {path}: {_reason(err)}") from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"{what} {path} is a folder; name the file to write inside it")
    if not stat.S_ISREG(mode):
        raise OutputError(f"{what} {path} is {file_kind(mode)}, not a regular file; signcaps writes only regular "
                          f"files: name a new file")
    return path


def is_regular(path: Path) -> bool:
    """Whether ``path`` itself (not what a symlink points to) is a regular file."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def ensure_writable_file(path: str | Path, what: str, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Check that ``path`` can be written as a file (`check_output_file`) and is none of ``inputs``
    (nor inside an input folder); returns it. A file the user named explicitly may be replaced:
    that is what they asked."""
    path = check_output_file(path, what)
    check_not_inputs(path, inputs, what)
    ensure_writable_dir(path.parent, f"the folder of {what}")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"cannot write to {what} {path}: permission denied")
    return path


def check_not_inputs(output: str | Path, inputs: Iterable[str | Path | None], what: str,
                     replaces_folder: bool = False) -> None:
    """An output may be no input, may not lie inside an input folder and, when the command replaces
    the output folder as a whole (``replaces_folder``), may not hold an input."""
    output = Path(output).expanduser()
    for item in inputs:
        if item is None or str(item) == "":
            continue
        item = Path(item).expanduser()
        if same_file(output, item):
            raise OutputError(f"{what} {output} is also an input of this command; writing it would destroy the input")
        if item.is_dir() and _inside(output, item):
            raise OutputError(f"{what} {output} lies inside the input folder {item}; writing there would change "
                              f"the input; choose a place outside it")
        if replaces_folder and _inside(item, output):
            raise OutputError(f"{what} {output} holds the input {item}, and is replaced as a whole; move the input "
                              f"out of it or choose another folder")


def _kind(path: Path) -> str:
    try:
        return "a file" if path.is_file() else file_kind(path.stat().st_mode)
    except OSError:
        return "a file"


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both names reach the same file (symlinks and relative paths resolved)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


# ------------------------------------------------------------------------------ what signcaps wrote


def file_digest(path: Path) -> str:
    """sha256 of a file, read in blocks (never whole into memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_record(folder: Path) -> dict[str, Any] | None:
    """The folder's record of what signcaps wrote there (relative name -> sha256, or the last two
    sha256 of a file being replaced); None without one."""
    path = Path(folder) / RECORD_NAME
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > 16 << 20:  # a FIFO there would block the read
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # a damaged record proves nothing: nothing in it counts as ours
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and (isinstance(v, str) or (
        isinstance(v, list) and all(isinstance(d, str) for d in v)))}


def _write_record(folder: Path, files: dict[str, Any]) -> None:
    text = json.dumps({"written_by": "signcaps", "files": dict(sorted(files.items()))}, indent=1) + "\n"
    _atomic(folder / RECORD_NAME, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _is_ours(folder: Path, rel: str, record: dict[str, Any]) -> bool:
    expected = record.get(rel)
    if expected is None or not is_regular(folder / rel):  # a FIFO would block the digest; never ours
        return False
    try:
        return file_digest(folder / rel) in ([expected] if isinstance(expected, str) else expected)
    except OSError:
        return False


def _is_bookkeeping(name: str) -> bool:
    """The record itself and signcaps' temporary names: never a user's file."""
    return name == RECORD_NAME or bool(_TEMP_RE.match(name))


def claim_files(folder: str | Path, names: Iterable[str], what: str, legacy_ok: bool = False) -> Path:
    """Before the work: each of ``names`` in ``folder`` must be absent or a file signcaps wrote
    there (recorded, unchanged); then what this process writes there is recorded.

    ``legacy_ok``: a folder without any record (written before records existed) counts as ours.
    """
    folder = Path(folder).expanduser()
    record = read_record(folder) if folder.is_dir() else None
    check_output_file(folder / RECORD_NAME, f"the record of {what}")  # rewritten after the work: a FIFO there fails now
    if not (legacy_ok and record is None):
        for name in names:
            path = folder / name
            if path.is_symlink() or path.exists():
                if path.is_dir() or not _is_ours(folder, name, record or {}):
                    raise OutputError(f"{what} {folder} already has {name}, which signcaps did not write (or it "
                                      f"changed since); move it away or choose another folder")
    _CLAIMED.add(str(folder.resolve()))
    return folder


def check_replaceable(target: str | Path, what: str, legacy: Callable[[str, Path], bool] | None = None) -> None:
    """Before the work: a folder the command replaces as a whole must be absent, empty, or hold only
    files signcaps wrote there (recorded, unchanged). ``legacy(relative name, path)``: whether a
    file of a folder without a record counts as ours anyway (a site or a dataset install made
    before records existed)."""
    target = Path(target).expanduser()
    if target.is_symlink():
        raise OutputError(f"{what} {target} is a symbolic link; pass the folder it points to, or a new folder")
    if not target.exists():
        return
    _not_around_cwd(target, what)
    if not target.is_dir():
        raise OutputError(f"{what} {target} exists and is not a folder")
    record = read_record(target)
    for path in sorted(target.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(target).as_posix()
        if path.parent == target and _is_bookkeeping(path.name):
            continue
        ours = (_is_ours(target, rel, record)) if record is not None else \
            (legacy is not None and is_regular(path) and legacy(rel, path))
        if not ours:
            raise OutputError(f"{what} {target} holds {rel}, which signcaps did not write (or it changed since); "
                              f"move it away or choose another folder")


def _not_around_cwd(target: Path, what: str) -> None:
    """A folder replaced as a whole is never the current folder nor one that holds it (``web build .``):
    it is renamed away, and its temporary twin would be made inside it."""
    try:
        cwd, resolved = Path.cwd().resolve(), target.resolve()
    except (OSError, RuntimeError):
        return
    if cwd == resolved or cwd.is_relative_to(resolved):
        raise OutputError(f"{what} {target} is the current folder or holds it, and it is replaced as a whole; "
                          f"name a new folder below it, e.g. {Path(target) / 'site'}")


def record_tree(folder: Path) -> None:
    """Record every file below ``folder`` as written by signcaps (a staged folder before its swap)."""
    files = {p.relative_to(folder).as_posix(): file_digest(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and not (p.parent == folder and _is_bookkeeping(p.name))}
    _write_record(folder, files)


def _record_file(path: Path, tmp: Path, user_named: bool = False) -> None:
    """Note ``path`` (about to receive ``tmp``'s bytes) in its folder's record, when the folder has one.

    ``user_named``: the user named this file (``-o``): it is theirs, so it leaves the record, and a
    later run that picks the same name itself (explain's ``-pose.png``, export's ``.int8.onnx``)
    refuses it instead of replacing an earlier result."""
    folder = path.parent
    if str(folder.resolve()) not in _CLAIMED and not (folder / RECORD_NAME).is_file():
        return
    with _folder_lock(folder):
        files = read_record(folder) or {}
        if user_named:
            if files.pop(path.name, None) is not None:
                _write_record(folder, files)
            return
        new = file_digest(tmp)
        # Recorded before the rename, with the digest of what is there now: a process killed between
        # the two leaves a file the record still calls ours, whichever of the two it holds.
        old = file_digest(path) if path.is_file() and _is_ours(folder, path.name, files) else None
        files[path.name] = [old, new] if old and old != new else new
        _write_record(folder, files)


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Two processes writing into one folder (eval and robustness beside a run) update the record in turn."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ temporary names


def _temp_prefix(target: Path) -> str:
    return f".{target.stem[:48]}{TEMP_TAG}{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user
        return True
    return True


def sweep_stale(folder: Path) -> None:
    """Remove temporaries a killed signcaps process left in ``folder`` (its pid is in the name and
    no longer runs); once per folder and process."""
    key = str(folder)
    if key in _SWEPT:
        return
    _SWEPT.add(key)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if not match or _alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def new_temp_file(target: str | Path) -> Path:
    """A new, empty file beside ``target`` under a random name created exclusively, with the
    target's suffix (OpenCV, matplotlib and numpy pick the format from it)."""
    target = Path(target)
    sweep_stale(target.parent)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(target), suffix=target.suffix)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # the mode a plain open() would give the final file
    except OSError:
        pass
    os.close(fd)
    return Path(name)


def new_temp_dir(target: str | Path) -> Path:
    """A new, empty folder beside ``target`` under a random name created exclusively."""
    target = Path(target)
    sweep_stale(target.parent)
    path = Path(tempfile.mkdtemp(dir=target.parent, prefix=_temp_prefix(target), suffix=".d"))
    try:
        os.chmod(path, 0o777 & ~_UMASK)
    except OSError:
        pass
    return path


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF):  # folders on some filesystems
            raise
    finally:
        os.close(fd)


def out_of_space(folder: Path) -> bool:
    """Whether the filesystem of ``folder`` is (nearly) full: what an exception from a writer that
    does not say ENOSPC (torch's "file write failed") most likely meant."""
    try:
        info = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return info.f_bavail * info.f_frsize < 64 * 1024


# ------------------------------------------------------------------------------ writing


def _atomic(path: Path, write: Callable[[Path], object], record: bool = False, user_named: bool = False) -> Path:
    tmp = new_temp_file(path)
    try:
        write(tmp)
        _publish(tmp, path, record, user_named)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _publish(tmp: Path, path: Path, record: bool = True, user_named: bool = False) -> None:
    check_output_file(path, "the output")  # the last guard: a rename never replaces a device or a FIFO
    _fsync(tmp)
    if record:
        _record_file(path, tmp, user_named)
    os.replace(tmp, path)
    _fsync(path.parent)


@contextmanager
def write_errors(path: str | Path) -> Iterator[None]:
    """A write error in the block (a full disk, a vanished folder) as one OutputError line, whichever
    writer hit it: OSError, or torch's and OpenCV's own types when the disk is full."""
    try:
        yield
    except UserError:
        if out_of_space(Path(path).parent):  # a writer's own "cannot write" (cv2.imwrite returned False)
            raise OutputError(f"cannot write {path}: no space left on the device") from None
        raise
    except OSError as err:
        raise OutputError(f"cannot write {path}: {_reason(err)}") from None
    except Exception:
        if out_of_space(Path(path).parent):
            raise OutputError(f"cannot write {path}: no space left on the device") from None
        raise


def write_image(path: Path, image) -> bool:
    """`cv2.imwrite` without handing OpenCV the path: the image is encoded in memory (format from the
    suffix) and the bytes written by Python. OpenCV converts a path to UTF-8 and crashes the process
    (SIGSEGV) on a folder or label name that is not UTF-8 (any bytes on Linux). False: not encodable."""
    import cv2

    try:
        ok, data = cv2.imencode(Path(path).suffix or ".png", image)
    except cv2.error:
        return False
    if not ok:
        return False
    Path(path).write_bytes(data.tobytes())
    return True


def atomic_write(path: str | Path, write: Callable[[Path], object], user_named: bool = False) -> Path:
    """Call ``write(tmp)`` on a fresh temporary file, fsync it, then rename it over ``path``.

    On any failure the temporary file is removed and the previous ``path`` stays as it was; a
    write error is one OutputError line (`write_errors`). ``user_named``: see `_record_file`.
    """
    path = Path(path)
    with write_errors(path):
        return _atomic(path, write, record=True, user_named=user_named)


def publish(tmp: str | Path, path: str | Path, user_named: bool = False) -> Path:
    """Move a finished temporary file (from `new_temp_file`, checked by the caller) over ``path``:
    fsync, record, rename. The caller removes ``tmp`` on failure. ``user_named``: see `_record_file`."""
    with write_errors(path):
        _publish(Path(tmp), Path(path), user_named=user_named)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, value: Any, indent: int | None = 1) -> Path:
    return atomic_write_text(path, json_text(value, indent=indent))


@contextmanager
def staged_dir(target: str | Path, what: str) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``target``; when the block succeeds, record what
    is in it and swap it in by renames (the previous folder is deleted only once the new one is in
    place). On failure the temporary folder goes and ``target`` stays as it was.

    Call ``check_replaceable`` before the work: this does not look at what ``target`` holds.
    """
    target = Path(os.path.abspath(Path(target).expanduser()))  # "." has "." as its parent; its real one
    if target.is_symlink():
        raise OutputError(f"{what} {target} is a symbolic link; pass the folder it points to, or a new folder")
    if target.exists():
        _not_around_cwd(target, what)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = new_temp_dir(target)
    except OSError as err:
        raise OutputError(f"cannot write {what} {target}: {_reason(err)}") from None
    try:
        yield staging
        record_tree(staging)
        for path in staging.rglob("*"):
            if path.is_file():
                _fsync(path)
        _swap_in(staging, target)
    except OSError as err:
        raise OutputError(f"cannot write {what} {target}: {_reason(err)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = new_temp_dir(target)
        os.rename(target, old)  # onto the empty folder just made: POSIX replaces it
    try:
        os.rename(staging, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    _fsync(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_new(folder: str | Path, names: Iterable[str], write: Callable[[Path], object]) -> Path:
    """Write a new file into ``folder`` under the first of ``names`` that nobody holds, and return it.

    Two processes picking names in one folder (two ``collect`` runs into one label, started in the
    same second) would both see a name free and the second rename would replace the first file. So
    the file is written whole under a temporary name and then *linked* to its name: ``os.link``
    fails when the name exists, atomically, and the next name is tried. Where the filesystem has no
    hard links, the name is reserved with ``O_CREAT | O_EXCL`` and the file renamed over the reservation.
    A write error is one OutputError line; the temporary file never stays."""
    folder = Path(folder)
    names = iter(names)
    first = next(names)
    tmp = new_temp_file(folder / first)
    try:
        with write_errors(folder / first):
            write(tmp)
            _fsync(tmp)
            for name in itertools.chain([first], names):
                target = folder / name
                if _claim_name(tmp, target):
                    _fsync(folder)
                    return target
    finally:
        tmp.unlink(missing_ok=True)
    raise OutputError(f"no free name left for a new file in {folder}")


def _claim_name(tmp: Path, target: Path) -> bool:
    """Give ``tmp``'s bytes the name ``target`` only if nobody holds it (True), else False."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
    try:  # no hard links here (FAT, some network filesystems): reserve the name, then rename over it
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    os.replace(tmp, target)
    return True


def append_text(path: str | Path, text: str, what: str) -> None:
    """Append ``text`` to the regular file ``path`` (created when absent), on disk at once.

    Opened without blocking and checked once open: a FIFO put there since the start-up check
    fails at once (no reader) or is refused (a reader), never waited on; a device is refused
    before a byte is written. A write error is one OutputError line."""
    path = Path(path).expanduser()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
    except OSError as err:
        if err.errno == errno.ENXIO:  # a FIFO without a reader
            raise OutputError(f"{what} {path} is a FIFO (named pipe), not a regular file") from None
        raise OutputError(f"cannot write {what} {path}: {_reason(err)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OutputError(f"{what} {path} is {file_kind(mode)}, not a regular file; signcaps writes only "
                              f"regular files: name a new file")
        os.set_blocking(fd, True)
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
    except OSError as err:
        raise OutputError(f"cannot write {what} {path}: {_reason(err)}") from None
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ results as text


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        return finite_or_none(value.tolist())
    return value


def json_text(value: Any, indent: int | None = None) -> str:
    """Strict JSON of a result: NaN and infinities become null instead of the bare ``NaN`` that
    JSON readers refuse; objects JSON does not know are written as their text."""
    return json.dumps(finite_or_none(value), indent=indent, allow_nan=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return finite_or_none(value.tolist())
    return str(value)


# ------------------------------------------------------------------------------ one writer per folder


@contextmanager
def exclusive_lock(folder: str | Path, what: str, inputs: Iterable[str | Path | None] = ()) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` for the block; a second holder gets one error line.

    ``flock`` locks die with their process, so a killed run never leaves a stale lock behind
    (the empty ``.lock`` file may stay; it means nothing by itself). No-op where fcntl is missing.
    """
    created = not Path(folder).expanduser().exists()
    folder = ensure_writable_dir(folder, what, inputs)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs are not protected from each other
        yield
        return
    lock = folder / ".lock"
    before = _names(folder)
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"another signcaps process is using {what} {folder} (it holds {lock}); "
                              f"wait for it to finish or choose another folder") from None
        try:
            yield
        finally:
            if lock.name not in before and _names(folder) - {lock.name} == before:  # failed before writing
                lock.unlink(missing_ok=True)
                if created:
                    shutil.rmtree(folder, ignore_errors=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not _TEMP_RE.match(p.name)}
