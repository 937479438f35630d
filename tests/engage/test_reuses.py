"""Reuses (成果展示): submission with an image checked by its bytes (fakes and oversized images refused,
metadata dropped), the data office's review, the showcase and dataset pages, counts per dataset, and the
visibility rule on the datasets a reuse names."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest

from cityhub.catalog.schemas import UploadedFile
from cityhub.engage import reuse_image
from cityhub.errors import NotAuthorized, NotFound, ValidationError
from tests.conftest import Store, call_as, open_dataset, set_settings, token_for
from tests.engage.conftest import call_from, new_user


def png(text: bytes = b"GPS 23.1291,113.2644") -> bytes:
    """A real 1x1 PNG with a tEXt chunk (metadata to be dropped)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (reuse_image.PNG_SIG + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"Comment\x00" + text)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def jpeg() -> bytes:
    """A JPEG skeleton with an EXIF (APP1) segment and a comment: SOI, APP0, APP1, COM, SOS, data, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 14) + b"Exif\x00\x00GPSDATA!"
    com = b"\xff\xfe" + struct.pack(">H", 2 + 6) + b"secret"
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + app1 + com + sos + b"\x12\x34\x56" + b"\xff\xd9"


def test_image_check_is_by_bytes_and_drops_metadata() -> None:
    cleaned, kind = reuse_image.clean(png(), 10_000)
    assert kind == "image/png" and b"GPS" not in cleaned and cleaned.startswith(reuse_image.PNG_SIG)
    assert b"IDAT" in cleaned and cleaned.endswith(b"IEND\xaeB`\x82")
    cleaned, kind = reuse_image.clean(jpeg(), 10_000)
    assert kind == "image/jpeg" and b"GPSDATA" not in cleaned and b"secret" not in cleaned and b"JFIF" in cleaned
    for bad in (b"<html><script>alert(1)</script></html>", b"GIF89a....", b"", png()[:40],
                reuse_image.PNG_SIG + b"\x00\x00\x00\x0dIHDR",
                b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 4):
        with pytest.raises(reuse_image.BadImage):
            reuse_image.clean(bad, 10_000)
    with pytest.raises(reuse_image.BadImage, match="large"):
        reuse_image.clean(png(b"x" * 5000), 1000)


def _submit(who: str, datasets: list[str], image: UploadedFile | None = None, **over: Any) -> dict[str, Any]:
    data = {"title": "公交到站查询小程序", "description": "用**实时公交**数据做的小程序", "url": "https://app.example.cn/bus",
            "type": "app", "datasets": datasets, "image": image}
    data.update(over)
    return call_from(who, "reuse_create", data)


def test_submit_review_publish_count(demo: Store) -> None:
    a, b = open_dataset()["name"], open_dataset()["name"]
    who = new_user()
    r = _submit(who, [a, b], UploadedFile("截图.png", io.BytesIO(png())))
    assert r["status"] == "pending" and r["image_url"] == f"/showcase/{r['id']}/image"
    assert call_as(None, "reuse_list", {"dataset": a})["count"] == 0  # not before the review
    assert call_from(who, "reuse_show", {"id": r["id"]})["status"] == "pending"  # its submitter sees it
    with pytest.raises(NotFound):
        call_as(None, "reuse_show", {"id": r["id"]})
    with pytest.raises(NotAuthorized):
        call_as(None, "reuse_list", {"status": "pending"})
    for who_not in ("steward", who):
        with pytest.raises(NotAuthorized):
            call_as(who_not, "reuse_review", {"id": r["id"], "decision": "published"})
    assert r["id"] in [x["id"] for x in call_as("admin", "reuse_list", {"status": "pending", "limit": 100})["results"]]
    call_as("admin", "reuse_review", {"id": r["id"], "decision": "published", "comment": "好"})
    listed = call_as(None, "reuse_list", {"dataset": a})
    assert listed["count"] == 1 and listed["results"][0]["datasets"][0]["name"] in (a, b)
    assert call_as(None, "reuse_count", {"datasets": [a, b, "no-such"]}) == {a: 1, b: 1}
    assert call_as(None, "reuse_list", {"type": "article", "dataset": a})["count"] == 0
    image = call_as(None, "reuse_image", {"id": r["id"]})
    from pathlib import Path

    stored = Path(image["path"]).read_bytes()
    assert image["media_type"] == "image/png" and b"GPS" not in stored
    call_as("admin", "reuse_review", {"id": r["id"], "decision": "rejected", "comment": "撤下"})
    assert call_as(None, "reuse_count", {"datasets": [a]}) == {a: 0}


def test_fake_and_oversized_images_are_refused(demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, reuse_image_max_kb=1)
    ds = open_dataset()["name"]
    who = new_user()
    fake = UploadedFile("photo.png", io.BytesIO(b"<html><body><script>alert(1)</script></body></html>"))
    with pytest.raises(ValidationError) as exc:
        _submit(who, [ds], fake)
    assert exc.value.fields["image"] == ["Only PNG, JPEG or WebP images are accepted"]
    big = UploadedFile("big.png", io.BytesIO(png(b"x" * 4096)))
    with pytest.raises(ValidationError, match="图片过大"):
        _submit(who, [ds], big)
    assert call_as("admin", "reuse_list", {"status": "pending", "dataset": ds})["count"] == 0  # nothing kept


def test_reuse_of_a_dataset_the_user_cannot_see(demo: Store) -> None:
    closed = open_dataset(opening_class="不予开放")["name"]
    with pytest.raises(NotFound):
        _submit(new_user(), [closed])
    with pytest.raises(NotFound):
        call_as(None, "reuse_list", {"dataset": closed})
    r = _submit(new_user("analyst"), [closed, open_dataset()["name"]])  # government users see 不予开放
    call_as("admin", "reuse_review", {"id": r["id"], "decision": "published"})
    shown = call_as(None, "reuse_show", {"id": r["id"]})
    assert closed not in [d["name"] for d in shown["datasets"]] and len(shown["datasets"]) == 1
    assert call_as(None, "reuse_count", {"datasets": [closed]}) == {}


def test_bad_links_and_script_descriptions(demo: Store, app_client: Any) -> None:
    ds = open_dataset()["name"]
    who = new_user()
    for url in ("javascript:alert(1)", "data:text/html,x", "ftp://x.example/a", "https://x.example/a b"):
        with pytest.raises(ValidationError):
            _submit(who, [ds], url=url)
    r = _submit(who, [ds], description='<script>alert(1)</script>[x](javascript:alert(2))', title="<img src=x>")
    call_as("admin", "reuse_review", {"id": r["id"], "decision": "published"})
    page = app_client.get(f"/showcase?dataset={ds}").text
    assert "<script>alert(1)" not in page and "<img src=x>" not in page and 'href="javascript' not in page
    assert "&lt;img src=x&gt;" in page


def test_showcase_api_and_pages(demo: Store, app_client: Any, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_posts_per_minute=2)
    ds = open_dataset()["name"]
    headers = {"Authorization": token_for(new_user())}
    form = {"title": "客流可视化", "url": "https://viz.example.cn/", "type": "visualization", "datasets": [ds]}
    resp = app_client.post("/api/reuses", data=form, files={"image": ("a.png", png(), "image/png")}, headers=headers)
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    fake = app_client.post("/api/reuses", data=form, headers=headers,
                           files={"image": ("b.png", b"<html>not an image</html>", "image/png")})
    assert fake.status_code == 422 and fake.json()["error"]["fields"]["image"]
    third = app_client.post("/api/reuses", data=form, headers=headers)
    assert third.status_code == 201
    flood = app_client.post("/api/reuses", data=form, headers=headers)
    assert flood.status_code == 429 and flood.json()["error"]["type"] == "too_many_requests"
    anon = app_client.post("/api/reuses", data=form, files={"image": ("a.png", png(), "image/png")})
    assert anon.status_code == 401
    admin = {"Authorization": token_for("admin")}
    assert app_client.post(f"/api/reuses/{rid}/review", json={"decision": "published"}, headers=admin).status_code == 200
    page = app_client.get(f"/showcase?type=visualization&dataset={ds}")
    assert page.status_code == 200 and "客流可视化" in page.text and f"/showcase/{rid}/image" in page.text
    img = app_client.get(f"/showcase/{rid}/image")
    assert img.status_code == 200 and img.headers["content-type"] == "image/png" and img.content.startswith(b"\x89PNG")
    dataset_page = app_client.get(f"/dataset/{ds}").text
    assert 'id="reuses"' in dataset_page and "客流可视化" in dataset_page and 'id="reuse-count">(1)' in dataset_page
    assert app_client.get(f"/api/reuses/counts?datasets={ds}").json() == {ds: 1}


def test_an_oversized_multipart_is_stopped_at_the_image_cap(demo: Store, app_client: Any,
                                                             settings_env: dict[str, str]) -> None:
    """A public user may send a reuse's multipart body, but only up to the image limit (plus the form's slack):
    more is 413 while it streams in, and nothing is kept; elsewhere a public user sends no multipart at all."""
    set_settings(settings_env, reuse_image_max_kb=1)
    ds = open_dataset()["name"]
    headers = {"Authorization": token_for(new_user())}
    form = {"title": "大图", "url": "https://big.example.cn/", "type": "app", "datasets": [ds]}
    big = png(b"x" * (2 << 20))  # 2 MiB: beyond 1 KiB + 1 MiB of slack
    resp = app_client.post("/api/reuses", data=form, files={"image": ("big.png", big, "image/png")}, headers=headers)
    assert resp.status_code == 413 and resp.json()["error"]["type"] == "payload_too_large"
    assert call_as("admin", "reuse_list", {"status": "pending", "dataset": ds})["count"] == 0
    other = app_client.post(f"/api/datasets/{ds}/resources", files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")},
                            headers=headers)
    assert other.status_code == 403  # the catalog's uploads stay with those who may upload
