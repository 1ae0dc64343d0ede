"""The ONE preprocessing path: square hand crop -> resize -> normalise.

Training (via the crop cache), export parity checks, `predict` and `live` all call these
functions, so what the model sees in deployment is exactly what it saw in training. Only
numpy and OpenCV here: the torch-free runtime depends on this module.
"""
from __future__ import annotations

import re
import stat
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from signcaps.util.config import CropConfig
from signcaps.util.errors import UserError


class ImageReadError(UserError, ValueError):
    """A file that is not a readable image (corrupt, truncated, not an image)."""


@dataclass(frozen=True)
class SquareBox:
    """A square region in frame pixel coordinates; may extend past the frame."""

    x0: int
    y0: int
    side: int

    @property
    def x1(self) -> int:
        return self.x0 + self.side

    @property
    def y1(self) -> int:
        return self.y0 + self.side


# A decompression bomb (a 425 KB PNG that claims 20000 x 20000 pixels) would allocate GBs and
# crashes MediaPipe; the header's size is checked before any pixel is decoded. 120 MP is above
# the full-resolution photos of 108 MP phone cameras and takes at most ~360 MB as RGB.
MAX_IMAGE_PIXELS = 120_000_000


def image_header_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF, BMP or WebP header without decoding; None if unknown.

    Other formats (TIFF, …) are left to OpenCV, whose own limit is 2^30 pixels.
    """
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        return int.from_bytes(raw[6:8], "little"), int.from_bytes(raw[8:10], "little")
    if raw[:2] == b"BM" and len(raw) >= 26:
        width, height = (int.from_bytes(raw[i:i + 4], "little", signed=True) for i in (18, 22))
        return abs(width), abs(height)  # a negative height means top-down rows
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP" and len(raw) >= 30:
        return _webp_size(raw)
    if raw[:2] == b"\xff\xd8":
        return _jpeg_size(raw)
    return None


IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")


def looks_like_image(head: bytes) -> bool:
    """Whether a file's first bytes (16 are enough) are those of a PNG, JPEG, GIF, BMP, WebP or TIFF
    image, whatever its name says: an image renamed ``.mp4`` is still read as an image, with the
    image limits (`read_image_bgr`), not handed to a video decoder that has none."""
    return head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _webp_size(raw: bytes) -> tuple[int, int] | None:
    chunk = raw[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(raw[24:27], "little"), 1 + int.from_bytes(raw[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(raw[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        return int.from_bytes(raw[26:28], "little") & 0x3FFF, int.from_bytes(raw[28:30], "little") & 0x3FFF
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame marker, which holds the size."""
    pos = 2
    while pos + 9 < len(raw):
        if raw[pos] != 0xFF:
            return None
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(raw[pos + 2:pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(raw[pos + 7:pos + 9], "big"), int.from_bytes(raw[pos + 5:pos + 7], "big")
        pos += 2 + length
    return None


def read_image_bgr(path: str | Path) -> np.ndarray:
    """Read an image file as BGR uint8, refusing corrupt, truncated or oversized files.

    The file is size-checked first and mapped, not read: the header's pixel size is checked
    before anything is decoded, and only the pages the checks touch are read (a 20 GB sparse file
    named like an image costs nothing). OpenCV silently decodes a truncated JPEG as a partly grey
    image (and libjpeg prints "Premature end of JPEG file" on the terminal), so a JPEG must reach
    its end-of-image marker; bytes after that marker (a phone's "motion photo" video) are left out.
    16-bit, grey, grey+alpha, palette and CMYK files all come out as 8-bit 3-channel BGR.
    """
    import mmap

    from signcaps.util.inputs import MAX_IMAGE_BYTES

    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # before open(): opening a FIFO would block
            raise ImageReadError("not a regular file")
        if info.st_size == 0:
            raise ImageReadError("empty file")
        if info.st_size > MAX_IMAGE_BYTES:
            raise ImageReadError(f"file too large for an image: {info.st_size / 1e6:.0f} MB "
                                 f"(limit {MAX_IMAGE_BYTES / 1e6:.0f} MB)")
        with open(path, "rb") as handle:
            if info.st_size <= SMALL_IMAGE_BYTES:  # a camera frame or a photo: one read is cheapest
                return _decode(handle.read())
            try:
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # a filesystem without mmap: read it (its size is bounded)
                return _decode(handle.read())
            with mapped:
                return _decode(mapped)
    except OSError as err:
        raise ImageReadError(f"cannot read {path}: {err.strerror or type(err).__name__}") from None


SMALL_IMAGE_BYTES = 8 << 20  # larger files are mapped: only the pages the header checks touch are read


def _decode(raw: "mmap.mmap") -> np.ndarray:  # noqa: F821
    is_jpeg = raw[:2] == b"\xff\xd8"
    end = len(raw)
    if is_jpeg and raw[-2:] != b"\xff\xd9":  # ends elsewhere than at its marker: where does the image end?
        end = jpeg_end(raw)
        if end is None:
            raise ImageReadError("truncated JPEG (no end-of-image marker)")
    size = image_header_size(raw[:64] if not is_jpeg else raw)
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise ImageReadError(f"image too large: {size[0]}x{size[1]} pixels "
                             f"(limit {MAX_IMAGE_PIXELS / 1e6:g} megapixels); downscale it first")
    if size is not None and 0 in size:
        raise ImageReadError("not a decodable image (zero width or height)")
    from signcaps.hands.detector import quiet_native_stderr  # libjpeg prints "Corrupt JPEG data: …" on fd 2

    try:
        with quiet_native_stderr() if is_jpeg else nullcontext():
            image = cv2.imdecode(np.frombuffer(raw, np.uint8, count=end), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or not image.size:
        raise ImageReadError("not a decodable image")
    return image


# In a JPEG's entropy-coded data 0xFF is followed by 0x00 (a stuffed byte), a restart marker
# (0xD0-0xD7) or another 0xFF (fill): any other byte after 0xFF is the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_end(raw: bytes | "mmap.mmap") -> int | None:  # noqa: F821
    """The offset just past a JPEG's end-of-image marker, walking its segments and scans (so the
    EOI of an embedded EXIF thumbnail or of data appended after the image is not taken for it);
    None when the stream ends before its EOI (a truncated file)."""
    pos, size = 2, len(raw)
    while pos + 2 <= size:
        if raw[pos] != 0xFF:
            return None
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(raw[pos + 2:pos + 4], "big")
        if length < 2 or pos + 4 > size:
            return None
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            found = _NEXT_MARKER.search(raw, pos)
            if found is None:
                return None
            pos = found.start()
    return None


def read_image_rgb(path: str | Path) -> np.ndarray:
    """`read_image_bgr` as RGB: what the detector and the crops use."""
    return cv2.cvtColor(read_image_bgr(path), cv2.COLOR_BGR2RGB)


def square_box(landmarks_xy: np.ndarray, margin: float) -> SquareBox:
    """Square around the landmark bounding box, grown by `margin` of its longer side per side."""
    lo = landmarks_xy.min(axis=0)
    hi = landmarks_xy.max(axis=0)
    centre = (lo + hi) / 2.0
    side = float(max(hi - lo)) * (1.0 + 2.0 * margin)
    side = max(side, 8.0)
    x0 = int(round(centre[0] - side / 2.0))
    y0 = int(round(centre[1] - side / 2.0))
    return SquareBox(x0, y0, int(round(side)))


def crop_square(image: np.ndarray, box: SquareBox, size: int) -> np.ndarray:
    """Cut `box` out of `image` and resize to size x size.

    Reads are clamped to the frame; the part of the square outside the frame is filled by
    replicating the border, so a hand at the edge keeps its scale instead of being stretched.
    """
    h, w = image.shape[:2]
    cx0, cy0 = max(box.x0, 0), max(box.y0, 0)
    cx1, cy1 = min(box.x1, w), min(box.y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError("crop box lies outside the frame")
    patch = image[cy0:cy1, cx0:cx1]
    pad = (cy0 - box.y0, box.y1 - cy1, cx0 - box.x0, box.x1 - cx1)
    if any(pad):
        patch = cv2.copyMakeBorder(patch, *pad, borderType=cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if box.side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def centre_box(image: np.ndarray) -> SquareBox:
    """The largest centred square: the whole-image fallback when no hand is found."""
    h, w = image.shape[:2]
    side = min(h, w)
    return SquareBox((w - side) // 2, (h - side) // 2, side)


def crop_hand(image_rgb: np.ndarray, landmarks_xy: np.ndarray | None, is_left: bool, cfg: CropConfig) -> np.ndarray:
    """RGB uint8 crop of one hand (or of the centre square when `landmarks_xy` is None)."""
    box = centre_box(image_rgb) if landmarks_xy is None else square_box(landmarks_xy, cfg.margin)
    crop = crop_square(image_rgb, box, cfg.input_size)
    if cfg.mirror_left and is_left:
        crop = np.ascontiguousarray(crop[:, ::-1])
    return crop


def hand_sample(image_rgb: np.ndarray, hand, cfg: CropConfig) -> tuple[np.ndarray, np.ndarray]:
    """(crop, normalised pose) of one detected hand: what every model input is made from.

    `hand` is a `hands.Hand` (landmarks, points, is_left). Raises ValueError when the hand lies
    entirely outside the frame.
    """
    from signcaps.hands.landmarks import normalize_pose

    crop = crop_hand(image_rgb, hand.landmarks, hand.is_left, cfg)
    return crop, normalize_pose(hand.points, hand.is_left, cfg.mirror_left)


def to_tensor(crop_rgb: np.ndarray, cfg: CropConfig) -> np.ndarray:
    """RGB uint8 HxWx3 crop -> float32 CxHxW model input (grey or RGB, normalised)."""
    if crop_rgb.shape[:2] != (cfg.input_size, cfg.input_size):
        crop_rgb = cv2.resize(crop_rgb, (cfg.input_size, cfg.input_size), interpolation=cv2.INTER_AREA)
    if cfg.channels == 1:
        pixels = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)[None]
    else:
        pixels = crop_rgb.transpose(2, 0, 1)
    return ((pixels.astype(np.float32) / 255.0 - cfg.mean) / cfg.std).astype(np.float32)


def to_batch(crops_rgb: list[np.ndarray] | np.ndarray, cfg: CropConfig) -> np.ndarray:
    """Stack crops into an NxCxHxW float32 batch."""
    if len(crops_rgb) == 0:
        return np.zeros((0, cfg.channels, cfg.input_size, cfg.input_size), np.float32)
    return np.stack([to_tensor(c, cfg) for c in crops_rgb])


def to_image(tensor: np.ndarray, cfg: CropConfig) -> np.ndarray:
    """Inverse of `to_tensor` for display: CxHxW float -> HxWx3 RGB uint8."""
    return unit_to_rgb(tensor * cfg.std + cfg.mean)


def unit_to_rgb(image01: np.ndarray) -> np.ndarray:
    """CxHxW float in [0, 1] (a crop or a decoder reconstruction) -> HxWx3 RGB uint8 for display."""
    pixels = np.clip(np.rint(np.asarray(image01, np.float32) * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else np.ascontiguousarray(pixels)
