"""Checking a reuse's image upload (pure: bytes in, verdict out). Only PNG, JPEG and WebP are taken, recognised
by their magic bytes — never by the file name or the declared type — and walked far enough to know they are
what they say (PNG chunk structure, JPEG segment structure, the WebP RIFF size). PNG text and EXIF chunks and
JPEG APPn/COM segments (camera metadata, GPS positions, comments) are dropped, so what is served holds pixels
only. (Pillow is not a dependency; with it the image would be re-encoded instead.)"""

from __future__ import annotations

import struct

PNG_SIG = b"\x89PNG\r\n\x1a\n"
#: PNG chunks kept: the critical ones and those that affect how pixels look
PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs",
            b"bKGD", b"acTL", b"fcTL", b"fdAT"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class BadImage(ValueError):
    """Not an image we take; ``args[0]`` / ``args[1]``: the reason in Chinese / English."""


def kind(data: bytes) -> str | None:
    """``png``, ``jpeg`` or ``webp`` from the magic bytes, else ``None``."""
    if data.startswith(PNG_SIG):
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _png(data: bytes) -> bytes:
    out = [PNG_SIG]
    pos, seen_end = len(PNG_SIG), False
    first = True
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data) or not ctype.isalpha():
            raise BadImage("PNG 文件结构损坏", "Broken PNG structure")
        if first and ctype != b"IHDR":
            raise BadImage("PNG 文件缺少 IHDR", "PNG without IHDR")
        first = False
        if ctype in PNG_KEEP:
            out.append(data[pos:end])
        pos = end
        if ctype == b"IEND":
            seen_end = True
            break
    if not seen_end:
        raise BadImage("PNG 文件不完整", "Truncated PNG")
    return b"".join(out)


def _jpeg(data: bytes) -> bytes:
    out = [b"\xff\xd8"]
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise BadImage("JPEG 文件结构损坏", "Broken JPEG structure")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise BadImage("JPEG 文件结构损坏", "Broken JPEG structure")
        if marker == 0xDA:  # start of scan: the entropy-coded data and the rest follow as they are
            out.append(data[pos:])
            if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise BadImage("JPEG 文件不完整", "Truncated JPEG")
            return b"".join(out)
        if not (0xE1 <= marker <= 0xEF or marker == 0xFE):  # keep APP0 (JFIF) and the rest; drop APP1-15, COM
            out.append(data[pos:end])
        pos = end
    raise BadImage("JPEG 文件不完整", "Truncated JPEG")


def _webp(data: bytes) -> bytes:
    (size,) = struct.unpack("<I", data[4:8])
    if size + 8 != len(data) or len(data) < 20 or data[12:15] != b"VP8":
        raise BadImage("WebP 文件结构损坏", "Broken WebP structure")
    return data


def clean(data: bytes, max_bytes: int) -> tuple[bytes, str]:
    """The image with its metadata dropped and its media type; ``BadImage`` when it is too large or not a PNG,
    JPEG or WebP image."""
    if len(data) > max_bytes:
        raise BadImage(f"图片过大(上限 {max_bytes // 1024} KiB)", f"Image too large (limit {max_bytes // 1024} KiB)")
    found = kind(data)
    if found is None:
        raise BadImage("只接受 PNG、JPEG 或 WebP 图片", "Only PNG, JPEG or WebP images are accepted")
    cleaned = {"png": _png, "jpeg": _jpeg, "webp": _webp}[found](data)
    return cleaned, MEDIA_TYPES[found]
