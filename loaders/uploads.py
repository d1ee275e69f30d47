"""Uploaded files at the boundary: size limits, content sniffing, zip-bomb checks, safe names, the upload folder.

Nothing here trusts what the browser says about a file. The name is reduced to a harmless base name (no folders,
no '..', no control characters) whose extension is set from the *content*: a CSV named .xlsx is saved as .csv, an
HTML page named .xls is refused. Size is checked twice: on the base64 text before decoding (so a huge upload is
refused without building its bytes) and on the decoded bytes. Zip containers (xlsx, zipped shapefiles) are checked
from their central directory before anything opens them: the declared uncompressed sizes must stay under
`ZIP_RATIO_LIMIT` × the upload limit. Every refusal is one `InputError` with a Chinese sentence.

Uploads are kept under `<base>/<random token>/<safe name>`; `upload_file` turns a token that came back from the
browser into that path only when the token has the right shape and the folder exists.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import io
import re
import secrets
import shutil
import time
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath

from geodata.errors import InputError

# --- file formats (what the content is, whatever the name says) ---------------------------------------
F_XLSX = "xlsx"
F_XLS = "xls"
F_CSV = "csv"
F_ZIP = "zip"           # a zipped shapefile (or another vector file in a zip)
F_GEOJSON = "geojson"
F_GPKG = "gpkg"
F_KML = "kml"
TABLE_FORMATS = (F_XLSX, F_XLS, F_CSV)
GEO_FORMATS = (F_ZIP, F_GEOJSON, F_GPKG, F_KML)
FORMAT_LABELS = {F_XLSX: "Excel 工作簿 (.xlsx)", F_XLS: "Excel 97-2003 工作簿 (.xls)", F_CSV: "CSV 文本",
                 F_ZIP: "压缩的 Shapefile (.zip)", F_GEOJSON: "GeoJSON", F_GPKG: "GeoPackage", F_KML: "KML"}

#: Declared uncompressed size of a zip may be at most this many times the upload limit.
ZIP_RATIO_LIMIT = 20
ZIP_MAX_MEMBERS = 10_000
#: Uploads older than this are removed when the next upload arrives (they hold personal data).
UPLOAD_TTL_SECONDS = 6 * 3600
MAX_NAME_CHARS = 100

_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_UNSAFE_CHARS = re.compile(r"[^\w.\-()（）\[\]【】 ]+")
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BIFF_BOF = (b"\x09\x00", b"\x09\x02", b"\x09\x04", b"\x09\x08")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_GPKG_IDS = (b"GPKG", b"GP10", b"GP11")
_VECTOR_SUFFIXES = (".shp", ".geojson", ".json", ".gpkg", ".kml")
_SNIFF = 64 * 1024

MSG_TOO_BIG = "文件太大：{size:.1f} MB，超过上限 {limit} MB。请拆分后分别上传（例如每个网格一个文件）"
MSG_EMPTY = "文件是空的（0 字节），请重新选择文件"
MSG_UNKNOWN = ("无法识别文件内容：不是 Excel（.xlsx/.xls）、CSV，也不是 GeoJSON、Shapefile 压缩包、GeoPackage 或 KML"
               "（文件可能已损坏，或只是改了扩展名）")
MSG_HTML = ("这是网页格式（HTML）的文件，不是真正的 Excel 表格（系统导出的“.xls”常是这样）："
            "请用 Excel 打开后“另存为” .xlsx 再上传")
MSG_XML_2003 = "这是 Excel 2003 XML 表格：请用 Excel 打开后“另存为” .xlsx 再上传"
MSG_ENCRYPTED = "Excel 文件设有打开密码：请在 Excel 中取消密码后另存再上传"
MSG_BROKEN_ZIP = "文件不完整或已损坏（压缩结构无法读取，可能下载未完成），请重新导出后上传"
MSG_ZIP_BOMB = ("压缩包解压后过大（声明 {size:.0f} MB，上限 {limit} MB），已拒绝：这可能是“压缩炸弹”，"
                "请检查文件来源")
MSG_ZIP_MEMBERS = "压缩包包含的文件过多（{n} 个，上限 {limit} 个），已拒绝"
MSG_ZIP_NO_VECTOR = "压缩包中没有可识别的地理数据（应包含 .shp 及其 .dbf/.shx，或 GeoJSON/GeoPackage/KML）"
MSG_CFB_NOT_EXCEL = "这是 Office 复合文档，但不是 Excel 工作簿（可能是 Word 文档）"
MSG_SQLITE_NOT_GPKG = "这是 SQLite 数据库文件，但不是 GeoPackage"
MSG_NOT_DATA_URL = "上传内容格式错误（不是浏览器的文件数据），请重新选择文件"
MSG_BAD_BASE64 = "上传内容已损坏（编码错误），请重新选择文件"


def mb(n_bytes: int) -> float:
    return n_bytes / (1024 * 1024)


# --- names -------------------------------------------------------------------------------------------

def safe_filename(name: str | None, *, default: str = "upload") -> str:
    """A harmless base name for `name` as a browser sent it: never a path.

    Folders are dropped (both / and \\), NUL and control characters removed, NFKC applied, characters other than
    letters (Chinese included), digits, space, `._-()[]` and their full-width forms replaced by `_`, leading dots
    removed (no '..', no hidden files), and the length capped (the extension kept).
    """
    text = unicodedata.normalize("NFKC", str(name or ""))
    text = "".join(ch for ch in text if ch.isprintable() or ch == " ")
    text = text.replace("\\", "/").split("/")[-1]
    text = _UNSAFE_CHARS.sub("_", text).strip(" .")
    text = re.sub(r"\.{2,}", ".", text).lstrip("._ ") or default
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    ext = ext[:10]
    stem = stem[:MAX_NAME_CHARS - len(ext) - 1].rstrip(" .") or default
    return f"{stem}.{ext}" if ext else stem


def with_extension(name: str, fmt: str) -> str:
    """`name` with the extension of the sniffed format (a CSV named .xlsx becomes .csv)."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem or 'upload'}.{fmt}"


# --- size --------------------------------------------------------------------------------------------

def decoded_size(b64: str) -> int:
    """Bytes a base64 text decodes to, computed from its length (no decoding)."""
    n = len(b64.strip())
    padding = len(b64) - len(b64.rstrip("="))
    return max(0, n * 3 // 4 - padding)


def decode_data_url(contents: str | None, max_bytes: int) -> bytes:
    """The bytes of a `data:<mime>;base64,<data>` text (what dcc.Upload sends), size-checked before decoding."""
    if not isinstance(contents, str) or "," not in contents[:300] or not contents.startswith("data:"):
        raise InputError(MSG_NOT_DATA_URL)
    header, b64 = contents.split(",", 1)
    if not header.endswith(";base64"):
        raise InputError(MSG_NOT_DATA_URL)
    size = decoded_size(b64)
    if size > max_bytes:
        raise InputError(MSG_TOO_BIG.format(size=mb(size), limit=_limit_mb(max_bytes)))
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(MSG_BAD_BASE64) from None
    return data


def _limit_mb(max_bytes: int) -> str:
    value = mb(max_bytes)
    return f"{value:.0f}" if value >= 1 else f"{value:.2f}"


# --- sniffing ----------------------------------------------------------------------------------------

def _zip_checks(data: bytes, max_bytes: int) -> list[zipfile.ZipInfo]:
    """The members of a zip, after refusing a damaged one or one whose declared content is too large."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise InputError(MSG_BROKEN_ZIP) from None
    if len(infos) > ZIP_MAX_MEMBERS:
        raise InputError(MSG_ZIP_MEMBERS.format(n=len(infos), limit=ZIP_MAX_MEMBERS))
    limit = ZIP_RATIO_LIMIT * max_bytes
    total = sum(max(i.file_size, 0) for i in infos)
    if total > limit:
        raise InputError(MSG_ZIP_BOMB.format(size=mb(total), limit=_limit_mb(limit)))
    return infos


def _text_kind(data: bytes) -> str | None:
    """F_CSV / F_GEOJSON / F_KML for text content, None when the bytes are not text. HTML raises."""
    head = data[:_SNIFF]
    final = len(data) <= _SNIFF   # else a character cut at the sniff boundary is not an error
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    elif b"\x00" in head:
        return None
    else:
        encodings = ["utf-8-sig", "gb18030"]
    for enc in encodings:
        try:
            text = codecs.getincrementaldecoder(enc)().decode(head, final=final)
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    text = text.lstrip("\ufeff")
    if not text.strip():
        return None
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n\x0c")
    if controls > max(2, len(text) // 200):
        return None
    start = text.lstrip()[:2000].lower()
    if start.startswith("<"):
        if "<kml" in start:
            return F_KML
        if "urn:schemas-microsoft-com:office:spreadsheet" in text[:_SNIFF].lower():
            raise InputError(MSG_XML_2003)
        if any(tag in start for tag in ("<html", "<!doctype html", "<table", "<head", "<body", "<meta")):
            raise InputError(MSG_HTML)
        raise InputError(MSG_UNKNOWN)
    if start.startswith("{"):
        if '"type"' in text[:_SNIFF] and ("feature" in text[:_SNIFF].lower() or '"coordinates"' in text[:_SNIFF]):
            return F_GEOJSON
        raise InputError("这是 JSON 文件，但不是 GeoJSON（缺少 \"type\": \"FeatureCollection\"）")
    return F_CSV


def sniff_format(data: bytes, max_bytes: int) -> str:
    """The format of `data` from its content (F_*), or InputError with the reason it cannot be used."""
    if not data:
        raise InputError(MSG_EMPTY)
    if data.startswith((_ZIP_MAGIC, _EMPTY_ZIP)):
        infos = _zip_checks(data, max_bytes)
        names = [i.filename for i in infos]
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            return F_XLSX
        if any(PurePosixPath(n).suffix.lower() in _VECTOR_SUFFIXES for n in names if not n.endswith("/")):
            return F_ZIP
        if "[Content_Types].xml" in names:
            raise InputError("这是 Office 文档（如 Word），不是 Excel 工作簿")
        raise InputError(MSG_ZIP_NO_VECTOR)
    if data.startswith(b"PK"):
        raise InputError(MSG_BROKEN_ZIP)
    if data.startswith(_CFB_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise InputError(MSG_ENCRYPTED)
        if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
            return F_XLS
        raise InputError(MSG_CFB_NOT_EXCEL)
    if data[:2] in _BIFF_BOF and len(data) >= 4:
        return F_XLS
    if data.startswith(_SQLITE_MAGIC):
        if data[68:72] in _GPKG_IDS:
            return F_GPKG
        raise InputError(MSG_SQLITE_NOT_GPKG)
    kind = _text_kind(data)
    if kind is None:
        raise InputError(MSG_UNKNOWN)
    return kind


def check_upload(data: bytes, name: str | None, max_bytes: int) -> tuple[str, str]:
    """(safe file name with the extension of its real format, format F_*) — or InputError with a clear sentence.

    `name` is only used, sanitised, as a label; the format comes from the content.
    """
    label = safe_filename(name)
    if len(data) > max_bytes:
        raise InputError(MSG_TOO_BIG.format(size=mb(len(data)), limit=_limit_mb(max_bytes)), file=label)
    try:
        fmt = sniff_format(data, max_bytes)
    except InputError as exc:
        raise InputError(str(exc), file=label) from None
    return with_extension(label, fmt), fmt


# --- the upload folder -------------------------------------------------------------------------------

def new_token() -> str:
    return secrets.token_hex(16)


def save_upload(base: str | Path, data: bytes, safe_name: str) -> tuple[str, Path]:
    """Write `data` to `<base>/<new token>/<safe_name>`; returns (token, path). The name must come from
    `check_upload` (it is sanitised again here, so no caller can write outside the folder)."""
    base = Path(base)
    token = new_token()
    folder = base / token
    folder.mkdir(parents=True, exist_ok=False, mode=0o700)
    path = folder / safe_filename(safe_name)
    if path.resolve().parent != folder.resolve():
        raise InputError("文件名无效")
    path.write_bytes(data)
    path.chmod(0o600)
    return token, path


def upload_folder(base: str | Path, token: object) -> Path | None:
    """The folder of an upload token that came back from the browser, or None (bad shape, unknown token)."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        return None
    folder = Path(base) / token
    return folder if folder.is_dir() else None


def upload_file(base: str | Path, token: object) -> Path | None:
    """The uploaded file of a token (the one file in its folder that is not a job record), or None."""
    folder = upload_folder(base, token)
    if folder is None:
        return None
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return files[0] if len(files) == 1 else None


def remove_upload_file(base: str | Path, token: object) -> None:
    """Delete the uploaded file (personal data) but keep the folder's job record."""
    path = upload_file(base, token)
    if path is not None:
        path.unlink(missing_ok=True)


def clean_old_uploads(base: str | Path, *, max_age: float = UPLOAD_TTL_SECONDS, now: float | None = None) -> int:
    """Remove upload folders untouched for `max_age` seconds; returns how many."""
    base = Path(base)
    if not base.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for folder in base.iterdir():
        if folder.is_dir() and _TOKEN.match(folder.name):
            try:
                newest = max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])
            except OSError:
                continue
            if now - newest > max_age:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed
