"""Hand-model resolution chain; the network is a local HTTP server, never the internet."""
import hashlib
import http.server
import threading
import zipfile
from functools import partial

import pytest

from signcaps.util import assets
from signcaps.util.assets import AssetError, Download, build_from_wheel, download, resolve_hand_model


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


def test_lite_variant_comes_from_the_cache_before_the_environment(hand_model, monkeypatch):
    lite = assets.cache_dir() / assets.LITE_HAND_MODEL_NAME
    lite.parent.mkdir(parents=True, exist_ok=True)
    lite.write_bytes(hand_model.read_bytes())  # same layout; the test needs no real lite network
    try:
        assert resolve_hand_model("lite", allow_fetch=False) == lite  # $SIGNCAPS_HAND_MODEL points at the full one
        assert resolve_hand_model(None, allow_fetch=False) == hand_model
    finally:
        lite.unlink()
    with pytest.raises(AssetError, match="models pull --hand-model lite"):
        resolve_hand_model("lite", allow_fetch=False)


def test_lite_bundle_pins_the_full_palm_detector_and_the_lite_landmarks(tmp_path, hand_model):
    members = assets.LITE_WHEEL_MEMBERS
    assert members["hand_detector.tflite"] == assets.WHEEL_MEMBERS["hand_detector.tflite"]
    assert members["hand_landmarks_detector.tflite"][0].endswith("hand_landmark_lite.tflite")
    with zipfile.ZipFile(hand_model) as bundle, zipfile.ZipFile(tmp_path / "mp.whl", "w") as wheel:
        for member, (inner, _) in members.items():
            wheel.writestr(inner, bundle.read(member))  # the full landmark network under the lite name
    with pytest.raises(AssetError, match="hand_landmark_lite.tflite.*sha256"):
        build_from_wheel(tmp_path / "mp.whl", tmp_path / "lite.task", members)
    assert not (tmp_path / "lite.task").exists()


@pytest.mark.slow
def test_lite_bundle_built_from_the_real_wheel_finds_hands(tmp_path):
    """Needs PyPI: pip downloads mediapipe==0.10.21, the bundle is built, loaded, and finds a hand."""
    from signcaps.hands.detector import HandDetector
    from signcaps.hands.preprocess import read_image_rgb
    from signcaps.util.config import DetectConfig

    try:
        wheel = assets.fetch_wheel(tmp_path)
    except AssetError as err:
        pytest.skip(f"PyPI not reachable: {err}")
    built = build_from_wheel(wheel, tmp_path / "lite.task", assets.LITE_WHEEL_MEMBERS)
    with zipfile.ZipFile(built) as bundle:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in bundle.infolist())
    from conftest import DIGITS

    image = read_image_rgb(sorted((DIGITS / "5").glob("*.JPG"))[0])
    with HandDetector(built, DetectConfig(), mode="image") as detector:
        assert detector.detect(image)


def test_hand_model_tag_gives_the_lite_model_its_own_crop_cache(monkeypatch, tmp_path):
    """Crops found with the lite landmark network are not the full model's: the cache key says which."""
    from signcaps.data.crops import cache_path
    from signcaps.data.folders import FolderScan
    from signcaps.util.assets import hand_model_tag
    from signcaps.util.config import CropConfig, DataConfig, DetectConfig

    monkeypatch.delenv("SIGNCAPS_HAND_MODEL", raising=False)
    assert hand_model_tag(None) == "" and hand_model_tag("full") == ""
    assert hand_model_tag("/x/hand_landmarker.task") == ""
    assert hand_model_tag("lite") == "-lite" and hand_model_tag("/cache/hand_landmarker_lite.task") == "-lite"
    assert hand_model_tag("/models/my_hands.task") == ""  # any other file is taken for a full model
    monkeypatch.setenv("SIGNCAPS_HAND_MODEL", "/cache/hand_landmarker_lite.task")
    assert hand_model_tag(None) == "-lite"
    scan = FolderScan(tmp_path, ["0"], [])
    full = cache_path(DataConfig(cache_dir=str(tmp_path)), scan, CropConfig(), DetectConfig(), "full")
    lite = cache_path(DataConfig(cache_dir=str(tmp_path)), scan, CropConfig(), DetectConfig(), "lite")
    assert full != lite and lite.name.endswith("-lite-v2.npz")
