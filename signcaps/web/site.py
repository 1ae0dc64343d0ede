"""The browser target: a static site that runs an exported model live on the user's device.

`build_site` writes a folder that works offline from any static web server: the page and its ES
modules (``deploy/web/src``, shipped in the wheel too: `signcaps.util.bundled`), the WASM builds of the
pinned npm packages ``@mediapipe/tasks-vision`` and ``onnxruntime-web`` (installed once with
``npm ci`` from the committed lockfile: in a checkout into ``deploy/web/node_modules``, from an
installed wheel into the user cache; ``$SIGNCAPS_NODE_MODULES`` names a ``node_modules`` folder
installed elsewhere, the offline path), the ONNX model and ``hand_landmarker.task``. The page reads the model's
preprocessing and rejection rule from its ``signcaps`` metadata, as ``signcaps.runtime.classifier`` does; its
JavaScript copies of ``signcaps.hands.preprocess`` (bit-identical) and ``signcaps.signs.rejection`` (the same
decisions) are checked by ``tests/test_web.py``.

`serve` is a plain ``http.server`` with the MIME types the page needs (``.wasm`` must be
``application/wasm`` for streaming compilation, ``.mjs`` JavaScript for module imports).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from signcaps import __version__
from signcaps.util.bundled import PACKAGE, web_source_dir
from signcaps.util.errors import UserError

WEB_SOURCE = web_source_dir()
NODE_MODULES_ENV = "SIGNCAPS_NODE_MODULES"
SUPPORTED_FORMAT_VERSIONS = (1, 2, 3)  # what the page's onnxmeta.js reads; 2: the pose input, 3: the rule
SITE_MARKER = "signcaps-site.json"
MODEL_FILE = "models/model.onnx"
HAND_MODEL_FILE = "models/hand_landmarker.task"

# (npm package, files inside it, folder of the site): only the WASM builds the page loads.
VENDOR_FILES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("@mediapipe/tasks-vision", ("vision_bundle.mjs", "wasm/vision_wasm_internal.js", "wasm/vision_wasm_internal.wasm",
                                 "wasm/vision_wasm_nosimd_internal.js", "wasm/vision_wasm_nosimd_internal.wasm"),
     "vendor/mediapipe"),
    ("onnxruntime-web",
     ("dist/ort.wasm.min.mjs", "dist/ort-wasm-simd-threaded.mjs", "dist/ort-wasm-simd-threaded.wasm"),
     "vendor/onnxruntime-web"),
)

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".onnx": "application/octet-stream",
    ".task": "application/octet-stream",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}


class WebBuildError(UserError, RuntimeError):
    """The site cannot be built (missing sources, npm packages or model; an occupied folder)."""


def package_info(node_modules: Path, package: str) -> dict[str, str]:
    """Version and licence of an installed npm package (from its package.json)."""
    info = json.loads((node_modules / package / "package.json").read_text())
    return {"version": str(info["version"]), "license": str(info.get("license", "unknown"))}


def missing_vendor_files(source: Path = WEB_SOURCE) -> list[str]:
    """The npm files the site copies that the page's node_modules lacks (all of them before `npm ci`)."""
    modules = node_modules_dir(source)
    return [f"{pkg}/{name}" for pkg, names, _ in VENDOR_FILES for name in names if not (modules / pkg / name).is_file()]


def npm_folder(source: Path = WEB_SOURCE) -> Path:
    """Where `npm ci` runs for these sources: the checkout's deploy/web itself, or, for the copy
    inside an installed wheel (site-packages may be read-only and is no place for 20 MB of
    downloads), a folder of the user cache named by the lockfile's hash."""
    if not source.resolve().is_relative_to(PACKAGE):
        return source
    from signcaps.util.assets import cache_dir

    lock = (source / "package-lock.json").read_bytes()
    return cache_dir() / "web" / hashlib.sha256(lock).hexdigest()[:16]


def node_modules_dir(source: Path = WEB_SOURCE) -> Path:
    """$SIGNCAPS_NODE_MODULES when set (a node_modules installed elsewhere from the same
    lockfile), else the node_modules of `npm_folder`."""
    if os.environ.get(NODE_MODULES_ENV):
        return Path(os.environ[NODE_MODULES_ENV]).expanduser()
    return npm_folder(source) / "node_modules"


def ensure_node_modules(source: Path = WEB_SOURCE, log: Callable[[str], None] = lambda _msg: None) -> Path:
    """The node_modules with every file the site copies; runs `npm ci` once when it is missing."""
    modules = node_modules_dir(source)
    if missing_vendor_files(source) and not os.environ.get(NODE_MODULES_ENV):
        folder = npm_folder(source)
        npm = shutil.which("npm")
        if npm is None:
            raise WebBuildError(f"{modules} is missing and npm is not installed: install Node.js and npm "
                                f"(e.g. apt-get install npm), then run `npm ci` in {folder}, or set "
                                f"{NODE_MODULES_ENV} to a node_modules installed from the same lockfile")
        if folder != source:
            folder.mkdir(parents=True, exist_ok=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(source / name, folder / name)
        log(f"npm ci in {folder} (pinned by package-lock.json)")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise WebBuildError(f"`npm ci` in {folder} failed: {last[:200]}")
    missing = missing_vendor_files(source)
    if missing:
        fix = (f"unset {NODE_MODULES_ENV} or point it at a complete one" if os.environ.get(NODE_MODULES_ENV)
               else f"run `npm ci` in {npm_folder(source)}")
        raise WebBuildError(f"{modules} lacks {', '.join(missing)}; {fix}")
    return modules


def model_metadata(path: Path) -> dict[str, Any]:
    """The `signcaps` metadata of an ONNX file, checked for the versions the page reads.

    Not `runtime.read_metadata`: the page and the Python runtime are separate readers and may
    support different format versions.
    """
    import onnx

    from signcaps.runtime.classifier import FORMAT, META_KEY
    from signcaps.util.inputs import MAX_MODEL_BYTES, regular_file

    if not path.is_file():
        raise WebBuildError(f"model not found: {path}")
    regular_file(path, "model", MAX_MODEL_BYTES, WebBuildError)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf's DecodeError or onnx's own errors for foreign bytes
        raise WebBuildError(f"{path} is not an ONNX model") from None
    props = {p.key: p.value for p in model.metadata_props}
    try:
        meta = json.loads(props[META_KEY])
    except (KeyError, json.JSONDecodeError):
        raise WebBuildError(f"{path} has no signcaps metadata (not written by `signcaps export`)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise WebBuildError(f"{path}: the signcaps metadata has no '{FORMAT}' format tag")
    version = meta.get("format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise WebBuildError(f"{path} uses signcaps ONNX format version {version}; the web page reads versions "
                            f"{', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))}")
    from signcaps.signs.rejection import RejectionRule, RejectionRuleError

    try:  # the page applies the same rule (deploy/web/src/rejection.js): refuse one it would refuse
        RejectionRule.from_meta(meta.get("rejection"), [str(c) for c in meta.get("classes") or []])
    except RejectionRuleError as err:
        raise WebBuildError(f"{path}: its rejection rule cannot be applied: {err}") from None
    return meta


def _check_target(out: Path, inputs: list[Path]) -> None:
    """Never overwrite a folder the user had, nor files they added to a site this command built,
    nor one of this build's own inputs (`outputs.check_replaceable`, `outputs.check_not_inputs`)."""
    from signcaps.util.outputs import check_not_inputs, check_replaceable

    if out.is_symlink():
        raise WebBuildError(f"{out} is a symbolic link; pass the folder it points to, or a new folder")
    if out.exists() and not out.is_dir():
        raise WebBuildError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / SITE_MARKER).is_file():
        raise WebBuildError(f"{out} is not empty and is not a signcaps site; choose a new folder")
    check_replaceable(out, "the site folder", legacy=lambda _rel, _path: True)  # sites built before records
    check_not_inputs(out, inputs, "the site folder", replaces_folder=True)


def _copy(src: Path, dst: Path) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst.stat().st_size


def build_site(out: str | Path, model: str | Path | None = None, hand_model: str | Path | None = None,
               source: Path = WEB_SOURCE, log: Callable[[str], None] = lambda _msg: None,
               signs: str | None = None) -> dict[str, Any]:
    """Write the static site to `out` (replacing a site built there before); returns what was written.
    `signs`: the sign mode of a joint model the page answers in (its view is what the site ships)."""
    from signcaps.runtime.classifier import OnnxClassifier, default_model_path
    from signcaps.util.assets import resolve_hand_model
    from signcaps.util.outputs import staged_dir

    out = Path(out).expanduser()
    _check_target(out, [Path(model).expanduser()] if model is not None else [])
    if not (source / "src" / "index.html").is_file():
        raise WebBuildError(f"the page's sources are not at {source / 'src'}: this signcaps install is incomplete "
                            f"(reinstall the wheel)")
    model_path = Path(model).expanduser() if model is not None else default_model_path(signs)
    meta = model_metadata(model_path)  # what the page reads, refused here as the page would refuse it
    # the checks every runtime makes at load (outputs fit the classes, no NaN), on the mode's view
    clf = OnnxClassifier(model_path, signs=signs)
    meta = clf.meta if clf.signs_view else meta
    hand_path = resolve_hand_model(hand_model, log=log)
    _check_target(out, [model_path, hand_path])
    modules = ensure_node_modules(source, log)

    files: dict[str, int] = {}
    with staged_dir(out, "the site folder") as staging:
        files["index.html"] = _copy(source / "src" / "index.html", staging / "index.html")
        for script in sorted((source / "src").glob("*.js")):
            files[f"js/{script.name}"] = _copy(script, staging / "js" / script.name)
        packages, licences = {}, {}
        for package, names, folder in VENDOR_FILES:
            for name in names:
                target = f"{folder}/{name.removeprefix('dist/')}"
                files[target] = _copy(modules / package / name, staging / target)
            info = package_info(modules, package)
            packages[package] = info["version"]
            licences[package] = info["license"]
        if clf.signs_view:  # the mode's view, written as the page's model (weights inside, as _copy_model)
            (staging / MODEL_FILE).parent.mkdir(parents=True, exist_ok=True)
            (staging / MODEL_FILE).write_bytes(clf.model_bytes())
            files[MODEL_FILE] = (staging / MODEL_FILE).stat().st_size
        else:
            files[MODEL_FILE] = _copy_model(model_path, staging / MODEL_FILE)
        files[HAND_MODEL_FILE] = _copy(hand_path, staging / HAND_MODEL_FILE)
        report = {
            "site": str(out),
            "signcaps_version": __version__,
            "model": str(model_path),
            "model_name": meta.get("model"),
            "format_version": meta.get("format_version"),
            "inputs": meta.get("inputs") or {"image": "input"},
            "classes": meta.get("classes"),
            "rejection": meta.get("rejection"),
            "hand_model": str(hand_path),
            "packages": packages,
            "package_licenses": licences,
            "files": len(files) + 1,
            "size_bytes": sum(files.values()),
        }
        # the marker is served with the site: names, never this machine's absolute paths
        marker = {**report, "site": out.name, "model": model_path.name, "hand_model": hand_path.name}
        (staging / SITE_MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        _check_site_model(staging / MODEL_FILE, model_path)  # before the site replaces anything
    return report


def _copy_model(src: Path, dst: Path) -> int:
    """The site's model as one file: the page fetches model.onnx alone, so a model that keeps its
    weights in ONNX external data files beside it is written with them inside (else copied as is)."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    try:
        proto = onnx.load(str(src), load_external_data=False)
    except Exception:  # checked by the classifier already; here only to be sure of one line
        raise WebBuildError(f"{src} is not an ONNX model") from None
    if not any(uses_external_data(t) for t in proto.graph.initializer):
        return _copy(src, dst)
    try:
        full = onnx.load(str(src))  # reads the external data files beside it
    except Exception as err:
        raise WebBuildError(f"{src} keeps its weights in external data files that cannot be read: "
                            f"{type(err).__name__}") from None
    if full.ByteSize() >= 2**31 - 1:
        raise WebBuildError(f"{src} keeps its weights in external data files and is too large (2 GB or more) to "
                            f"be written as one file for the page")
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(full, str(dst))
    return dst.stat().st_size


def _check_site_model(site_model: Path, model_path: Path) -> None:
    """The site's own copy of the model loads, alone in its folder, as the page will load it: never
    exit 0 with a site whose model cannot load."""
    from signcaps.runtime.classifier import ModelLoadError, OnnxClassifier

    try:
        OnnxClassifier(site_model)
    except ModelLoadError as err:
        raise WebBuildError(f"the site's copy of {model_path} does not load on its own ({err}); nothing "
                            f"was replaced") from None


class _Handler(SimpleHTTPRequestHandler):
    """Static files with the page's MIME types; quiet unless asked."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    verbose = False

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def list_directory(self, path: Any) -> None:
        """No folder listings: the site is its files, not a browsable view of the build folder."""
        self.send_error(404, "Not Found")
        return None

    def send_head(self) -> Any:
        from urllib.parse import unquote

        try:  # as http.server decodes it; %ff or %C0%AF (not UTF-8) raised UnicodeDecodeError there
            wanted = unquote(self.path.split("?", 1)[0].split("#", 1)[0], errors="surrogatepass")
            if "\x00" in wanted:  # no file has a NUL in its name; open() would raise ValueError
                raise ValueError("NUL in the path")
            inside = _inside_site(self.translate_path(self.path), self.directory)
        except (ValueError, UnicodeError, OSError):  # also a name the filesystem cannot hold (lone surrogates)
            self.send_error(400, "Bad Request")
            return None
        parts = wanted.split("/")
        if any(part.startswith(".") and part not in ("", ".", "..") for part in parts):
            self.send_error(404, "Not Found")  # hidden files (signcaps' output record) are not the site's
            return None
        if not inside:
            self.send_error(404, "Not Found")  # a symlink (or a path) that leads out of the site folder
            return None
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (http.server's signature)
        if self.verbose:
            super().log_message(format, *args)


def _inside_site(path: str, root: str) -> bool:
    """Whether ``path``, every symlink resolved, lies in the site folder ``root`` (resolved too):
    a link the user put in the site never serves a file from elsewhere on the machine."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that drops a download (a reload, a closed tab) is not an error worth a traceback."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def make_server(site: str | Path, port: int = 8000, host: str = "127.0.0.1",
                verbose: bool = False) -> ThreadingHTTPServer:
    """An HTTP server for a built site (not started); port 0 picks a free port."""
    root = Path(site).expanduser()
    if not (root / "index.html").is_file():
        raise WebBuildError(f"{root} has no index.html; build the site first: signcaps web build {root}")
    handler = partial(type("SiteHandler", (_Handler,), {"verbose": verbose}), directory=str(root))
    try:
        return _SiteServer((host, port), handler)
    except OSError as err:
        raise WebBuildError(f"cannot listen on {host}:{port}: {err.strerror}") from None
