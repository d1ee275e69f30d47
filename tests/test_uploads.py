"""Hostile uploads at the boundary (loaders.uploads): sizes, zip bombs, content sniffing, path traversal in names."""
from __future__ import annotations

import base64
import io
import os
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import InputError
from loaders import uploads

DATA = Path(__file__).parent / "data"
MB = 1024 * 1024
LIMIT = 1 * MB


def _xlsx_bytes(rows=(("姓名", "身份证号码"), ("张三", "320411195203120011"))) -> bytes:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _data_url(data: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# --- names -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\x.xlsx", "x.xlsx"),
    ("/abs/path/登记表.xlsx", "登记表.xlsx"),
    ("C:\\Users\\王\\Desktop\\花名册.xls", "花名册.xls"),
    ("..", "upload"),
    ("...", "upload"),
    ("", "upload"),
    (None, "upload"),
    (".bashrc", "bashrc"),
    ("a\x00b.csv", "ab.csv"),
    ("evil\x00.xlsx/../../x", "x"),
    ("ｆｕｌｌ／..／ｗｉｄｔｈ.csv", "width.csv"),
    ("<script>alert(1)</script>.csv", "script_.csv"),
    ("a..b...c.csv", "a.b.c.csv"),
    ("名单 (2) 【三网格】.xlsx", "名单 (2) 【三网格】.xlsx"),
])
def test_safe_filename_strips_paths_and_hostile_characters(name, expected):
    assert uploads.safe_filename(name) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_safe_filename_never_escapes_the_folder(name):
    safe = uploads.safe_filename(name)
    assert safe and "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert not safe.startswith(".") and ".." not in safe and len(safe) <= uploads.MAX_NAME_CHARS
    base = Path("/srv/uploads/0123")
    assert (base / safe).resolve().parent == base.resolve()


def test_long_names_keep_their_extension():
    safe = uploads.safe_filename("很长" * 200 + ".xlsx")
    assert safe.endswith(".xlsx") and len(safe) <= uploads.MAX_NAME_CHARS


def test_saved_upload_stays_inside_its_token_folder(tmp_path):
    for hostile in ("../../etc/passwd", "..\\..\\x.xlsx", "/tmp/x.csv", ".."):
        name, fmt = uploads.check_upload(b"a,b\n1,2\n", hostile, LIMIT)
        token, path = uploads.save_upload(tmp_path, b"a,b\n1,2\n", name)
        assert path.parent == tmp_path / token and path.resolve().is_relative_to(tmp_path.resolve())
        assert uploads.upload_file(tmp_path, token) == path
    # a token is only accepted in its exact shape: never a path
    for bad in ("../x", "..", "/etc", "A" * 32, token + "/..", None, 5, {"x": 1}):
        assert uploads.upload_folder(tmp_path, bad) is None
    assert uploads.upload_folder(tmp_path, "0" * 32) is None   # well-formed but unknown


def test_old_uploads_are_removed(tmp_path):
    token, path = uploads.save_upload(tmp_path, b"x,y\n", "a.csv")
    assert uploads.clean_old_uploads(tmp_path, now=time.time()) == 0
    old = time.time() - uploads.UPLOAD_TTL_SECONDS - 10
    os.utime(path, (old, old))
    os.utime(path.parent, (old, old))
    assert uploads.clean_old_uploads(tmp_path) == 1 and not path.parent.exists()


# --- sizes -----------------------------------------------------------------------------------------

def test_size_limit_is_checked_before_decoding(monkeypatch):
    big = "data:text/csv;base64," + "A" * (4 * LIMIT // 3 + 400)

    def no_decoding(*a, **k):
        raise AssertionError("decoded an oversized upload")

    monkeypatch.setattr(uploads.base64, "b64decode", no_decoding)
    with pytest.raises(InputError, match="文件太大.*上限 1 MB"):
        uploads.decode_data_url(big, LIMIT)


def test_a_50_mb_csv_is_refused_with_a_clear_message():
    limit = 30 * MB
    row = "1,张三,320411195203120011,13812345678,兰翔新村7幢1单元502室\n"
    data = ("序号,姓名,身份证号码,手机,住址\n" + row * (50 * MB // len(row.encode()) + 1)).encode()
    assert len(data) > 50 * MB
    with pytest.raises(InputError, match=r"文件太大：50\.\d MB，超过上限 30 MB"):
        uploads.decode_data_url(_data_url(data, "text/csv"), limit)
    with pytest.raises(InputError, match="文件太大"):
        uploads.check_upload(data, "big.csv", limit)


def test_decoded_size_matches_base64():
    for n in range(0, 40):
        b64 = base64.b64encode(b"x" * n).decode()
        assert uploads.decoded_size(b64) == n


@pytest.mark.parametrize("contents", [None, "", "hello", "data:text/csv,plain", "data:text/csv;base64,@@@@"])
def test_malformed_data_urls(contents):
    with pytest.raises(InputError):
        uploads.decode_data_url(contents, LIMIT)


def test_empty_file():
    with pytest.raises(InputError, match="空的"):
        uploads.check_upload(b"", "x.csv", LIMIT)


# --- zip bombs and broken containers --------------------------------------------------------------

def _bomb(member: str = "xl/worksheets/sheet1.xml", size: int = 30 * MB, extra=()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        for name in extra:
            zf.writestr(name, "x")
        with zf.open(member, "w", force_zip64=True) as f:
            chunk = b"\0" * MB
            for _ in range(size // MB):
                f.write(chunk)
    return buf.getvalue()


def test_zip_bomb_is_refused_from_the_central_directory():
    data = _bomb(size=30 * MB)
    assert len(data) < 100_000            # 30 MB of zeros in ~30 KB
    with pytest.raises(InputError, match="压缩炸弹"):
        uploads.check_upload(data, "炸弹.xlsx", LIMIT)   # 30 MB > 20 x 1 MB


def test_forged_declared_size_is_refused_without_inflating():
    # A tiny zip whose central directory declares 3.75 GB: refused from the directory alone. (A forged *small*
    # size is harmless: Python's zipfile never inflates a member past its declared size.)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    data = bytearray(buf.getvalue())
    entry = data.rfind(b"PK\x01\x02")
    data[entry + 24:entry + 28] = (0xF0000000).to_bytes(4, "little")
    with pytest.raises(InputError, match="压缩炸弹"):
        uploads.check_upload(bytes(data), "x.xlsx", LIMIT)


def test_shapefile_zip_bomb_is_refused():
    with pytest.raises(InputError, match="压缩炸弹"):
        uploads.check_upload(_bomb("grids.shp", size=30 * MB), "grids.zip", LIMIT)


def test_too_many_members(monkeypatch):
    monkeypatch.setattr(uploads, "ZIP_MAX_MEMBERS", 5)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(6):
            zf.writestr(f"f{i}.shp", "x")
    with pytest.raises(InputError, match="文件过多"):
        uploads.check_upload(buf.getvalue(), "a.zip", LIMIT)


def test_truncated_xlsx_is_refused():
    data = (DATA / "truncated.xlsx").read_bytes()
    with pytest.raises(InputError, match="不完整或已损坏") as err:
        uploads.check_upload(data, "truncated.xlsx", LIMIT)
    assert "truncated.xlsx" in str(err.value)
    half = _xlsx_bytes()[:2000]
    with pytest.raises(InputError, match="不完整或已损坏"):
        uploads.check_upload(half, "half.xlsx", LIMIT)


def test_binary_garbage_named_xlsx():
    garbage = bytes((i * 7919 + 13) % 256 for i in range(50_000))
    with pytest.raises(InputError, match="无法识别文件内容"):
        uploads.check_upload(garbage, "登记表.xlsx", LIMIT)
    with pytest.raises(InputError, match="无法识别文件内容"):
        uploads.check_upload(os.urandom(4096), "x.xlsx", LIMIT)


def test_html_named_xls():
    html = "<html><head><meta charset='utf-8'></head><body><table><tr><td>姓名</td></tr></table></body></html>"
    with pytest.raises(InputError, match="网页格式（HTML）"):
        uploads.check_upload(html.encode("utf-8"), "导出.xls", LIMIT)
    with pytest.raises(InputError, match="网页格式（HTML）"):
        uploads.check_upload(("\ufeff  <!DOCTYPE html>" + html).encode("utf-8"), "导出.xls", LIMIT)


def test_other_office_files_are_refused():
    with pytest.raises(InputError, match="不是 Excel"):
        uploads.check_upload(uploads._CFB_MAGIC + b"\0" * 600, "doc.xls", LIMIT)
    with pytest.raises(InputError, match="密码"):
        uploads.check_upload(uploads._CFB_MAGIC + "EncryptedPackage".encode("utf-16-le"), "x.xlsx", LIMIT)
    with pytest.raises(InputError, match="GeoPackage"):
        uploads.check_upload(b"SQLite format 3\x00" + b"\0" * 200, "x.gpkg", LIMIT)
    with pytest.raises(InputError, match="不是 GeoJSON"):
        uploads.check_upload(b'{"a": 1}', "x.geojson", LIMIT)


# --- sniffing: the content decides, not the name ---------------------------------------------------

@pytest.mark.parametrize("path, fmt", [
    ("register_multisheet.xlsx", uploads.F_XLSX),
    ("register_legacy.xls", uploads.F_XLS),
    ("register_other_headers.csv", uploads.F_CSV),
    ("checkpoint_gbk.csv", uploads.F_CSV),
    ("grids_gcj02.geojson", uploads.F_GEOJSON),
])
def test_committed_files_are_recognised(path, fmt):
    data = (DATA / path).read_bytes()
    name, got = uploads.check_upload(data, "renamed.bin", 5 * MB)
    assert got == fmt and name == f"renamed.{fmt}"


def test_renamed_files_get_their_real_extension():
    assert uploads.check_upload(b"a,b\n1,2\n", "名单.xlsx", LIMIT) == ("名单.csv", uploads.F_CSV)
    assert uploads.check_upload(_xlsx_bytes(), "名单.xls", LIMIT) == ("名单.xlsx", uploads.F_XLSX)
    assert uploads.check_upload(_xlsx_bytes(), "名单", LIMIT) == ("名单.xlsx", uploads.F_XLSX)


def test_zipped_shapefile_gpkg_and_kml():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted((DATA / "buildings_4549_gbk").iterdir()):
            zf.write(p, f"楼栋/{p.name}")
    assert uploads.check_upload(buf.getvalue(), "楼栋.zip", LIMIT)[1] == uploads.F_ZIP
    gpkg = b"SQLite format 3\x00" + b"\0" * 52 + b"GPKG" + b"\0" * 100
    assert uploads.check_upload(gpkg, "a.gpkg", LIMIT)[1] == uploads.F_GPKG
    kml = b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>'
    assert uploads.check_upload(kml, "a.xml", LIMIT) == ("a.kml", uploads.F_KML)
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InputError, match="没有可识别的地理数据"):
        uploads.check_upload(plain_zip.getvalue(), "a.zip", LIMIT)


def test_sql_and_script_in_a_csv_are_just_text():
    data = ("姓名,身份证号码\n'; DROP TABLE person; --,320411195203120011\n<script>alert(1)</script>,\n"
            ).encode("utf-8")
    assert uploads.check_upload(data, "x.csv", LIMIT) == ("x.csv", uploads.F_CSV)


def test_gbk_and_utf16_text_is_csv():
    assert uploads.check_upload("姓名,住址\n张三,7幢\n".encode("gbk"), "a.csv", LIMIT)[1] == uploads.F_CSV
    assert uploads.check_upload("姓名\t住址\n张三\t7幢\n".encode("utf-16"), "a.txt", LIMIT)[1] == uploads.F_CSV
