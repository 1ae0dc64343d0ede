"""Hand-model resolution chain; the network is a local HTTP server, never the internet."""
import hashlib
import http.server
import threading
import zipfile
from functools import partial

import pytest

from signcaps import assets
from signcaps.assets import (
    AssetError,
    Download,
    build_from_wheel,
    download,
    resolve_hand_model,
)


def test_explicit_path_wins(hand_model, monkeypatch):
    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", "/nonexistent.task")
    assert resolve_hand_model(hand_model, allow_fetch=False) == hand_model


def test_env_var(hand_model):
    assert resolve_hand_model(None, allow_fetch=False) == hand_model


def test_env_var_pointing_nowhere_is_clear(monkeypatch):
    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", "/nonexistent.task")
    with pytest.raises(AssetError, match=r"not found.*SIGNCAPS_HAND_MODEL"):
        resolve_hand_model(None)


def test_missing_model_says_what_to_do(monkeypatch):
    monkeypatch.delenv("SIGNCAPS_HAND_MODEL")
    with pytest.raises(AssetError, match="--hand-model PATH"):
        resolve_hand_model(None, allow_fetch=False)


def test_wrong_file_is_refused(tmp_path):
    fake = tmp_path / "fake.task"
    fake.write_text("hello")
    with pytest.raises(AssetError, match="not a MediaPipe hand model"):
        resolve_hand_model(fake)


@pytest.fixture()
def file_server(tmp_path):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_checksum(file_server, hand_model, tmp_path_factory):
    folder, url = file_server
    (folder / "m.task").write_bytes(hand_model.read_bytes())
    good = Download(f"{url}/m.task", hashlib.sha256(hand_model.read_bytes()).hexdigest())
    dest = tmp_path_factory.mktemp("dl") / "m.task"
    assert download(good, dest).read_bytes() == hand_model.read_bytes()
    with pytest.raises(AssetError, match="checksum mismatch"):
        download(Download(good.url, "0" * 64), dest.with_name("x.task"))
    assert not dest.with_name("x.task").exists()


def test_chain_downloads_into_cache_when_nothing_is_configured(file_server, hand_model, monkeypatch):
    folder, url = file_server
    monkeypatch.delenv("SIGNCAPS_HAND_MODEL")
    (folder / "m.task").write_bytes(hand_model.read_bytes())
    official = Download(f"{url}/m.task", hashlib.sha256(hand_model.read_bytes()).hexdigest())
    path = resolve_hand_model(None, official=official)
    assert path == assets.cache_dir() / "hand_landmarker.task" and path.is_file()
    assert resolve_hand_model(None, allow_fetch=False) == path  # now served from the cache


def test_offline_download_error_names_the_host():
    with pytest.raises(AssetError, match="127.0.0.1:9"):
        download(Download("http://127.0.0.1:9/x.task", "0" * 64), assets.cache_dir() / "never.task", timeout=2)


def _fake_wheel(path, hand_model, tamper=False):
    with zipfile.ZipFile(hand_model) as bundle, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for member, (inner, _) in assets.WHEEL_MEMBERS.items():
            data = bundle.read(member)
            wheel.writestr(inner, data + (b"x" if tamper else b""))
    return path


def test_build_from_wheel_checks_each_member(tmp_path, hand_model):
    built = build_from_wheel(_fake_wheel(tmp_path / "mp.whl", hand_model), tmp_path / "out.task")
    assert assets.check_hand_model(built) == built
    with pytest.raises(AssetError, match="sha256"):
        build_from_wheel(_fake_wheel(tmp_path / "bad.whl", hand_model, tamper=True), tmp_path / "bad.task")
    assert not (tmp_path / "bad.task").exists()
