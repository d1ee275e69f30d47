"""Phone cells: split, normalise and check mobile and Changzhou landline numbers.

Owns `parse_phones`. A cell may hold several numbers, labels ("女儿") and Excel artefacts; every
number-like piece ends up either in `numbers` (normalised) or in `invalid` (as written). Nothing is
guessed: a landline without its 0519 area code stays invalid.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["PhoneCheck", "parse_phones", "PHONE_OK", "PHONE_MISSING", "PHONE_INVALID", "PHONE_PARTIAL"]

PHONE_OK = "ok"
PHONE_MISSING = "missing"
PHONE_INVALID = "invalid"
PHONE_PARTIAL = "partial"

CHANGZHOU_AREA_CODE = "0519"


@dataclass(frozen=True)
class PhoneCheck:
    raw: str | None
    numbers: tuple[str, ...]
    invalid: tuple[str, ...]
    status: str
    message: str


_RE_MOBILE = re.compile(r"1[3-9]\d{9}")
_RE_CZ_LANDLINE = re.compile(r"0519(\d{8})")
# Separators between two numbers in one cell (after NFKC: ，→, ；→;). Whitespace is handled later,
# because it also appears inside one number ("138 1234 5678").
_RE_SPLIT = re.compile(r"[/、,;|\\\n\r]+|或")
# A run of digits possibly broken by spaces, dashes and brackets; may start with + or (.
_RE_RUN = re.compile(r"[+(]?\d[\d\s\-()]*\d\)?")
_RE_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?E\+?\d+", re.IGNORECASE)
_RE_INSIDE_NUMBER = re.compile(r"[\s\-()]")
_RE_POINT_ZERO = re.compile(r"^(\d+)\.0+$")
# The common cell, as typed or as an Excel number: one mobile number and nothing else. ASCII digits only: other
# scripts' digits (full-width, Arabic-Indic) take the general steps, which normalise or report them.
_RE_PLAIN_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_MIN_DIGITS = 5
_DASHES = re.compile(r"[‐‑‒–—―−﹣－]")


def _classify(piece: str) -> tuple[str | None, str]:
    """(normalised number, '') when `piece` is one valid number, else (None, reason)."""
    d = _RE_INSIDE_NUMBER.sub("", piece)
    if d.startswith("+"):
        d = d[1:]
    if d.startswith("0086"):
        d = d[4:]
    elif d.startswith("86") and len(d) == 13:
        d = d[2:]
    if not d.isdigit():
        return None, "号码含非数字字符"
    if _RE_MOBILE.fullmatch(d):
        return d, ""
    m = _RE_CZ_LANDLINE.fullmatch(d)
    if m:
        return f"{CHANGZHOU_AREA_CODE}-{m.group(1)}", ""
    if len(d) in (7, 8) and d[0] != "0":
        return None, "固话缺少区号0519"
    if d.startswith("1"):
        return None, "手机号位数或号段错误"
    if d.startswith("0"):
        return None, "非常州0519固话或位数错误"
    return None, "号码格式错误"


def _runs(piece: str) -> list[tuple[str, str | None, str]]:
    """Split one separator-free piece into (text, number or None, reason) triples."""
    out: list[tuple[str, str | None, str]] = []
    for m in _RE_RUN.finditer(piece):
        run = m.group(0).strip()
        number, reason = _classify(run)
        if number:
            out.append((run, number, ""))
            continue
        # Whitespace may separate two numbers: group tokens greedily, longest valid group first;
        # consecutive tokens that fit no group are reported together, as written.
        tokens = run.split()
        pending: list[str] = []
        i = 0
        while i < len(tokens):
            for j in range(len(tokens), i, -1):
                cand = " ".join(tokens[i:j])
                number, _ = _classify(cand)
                if number:
                    if pending:
                        bad = " ".join(pending)
                        out.append((bad, None, _classify(bad)[1]))
                        pending = []
                    out.append((cand, number, ""))
                    i = j
                    break
            else:
                pending.append(tokens[i])
                i += 1
        if pending:
            bad = " ".join(pending)
            out.append((bad, None, _classify(bad)[1]))
    return out


def parse_phones(raw: object) -> PhoneCheck:
    """Parse one phone cell: text, an Excel number (int or float), or None."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return PhoneCheck(None, (), (), PHONE_MISSING, "电话缺失")
    if isinstance(raw, bool):
        raw_text = str(raw)
    elif isinstance(raw, int):
        raw_text = str(raw)
    elif isinstance(raw, (float, Decimal)):
        raw_text = str(int(raw)) if raw == int(raw) else repr(raw)
    else:
        raw_text = str(raw)
    if _RE_PLAIN_MOBILE.fullmatch(raw_text):
        return PhoneCheck(raw_text, (raw_text,), (), PHONE_OK, "")   # what the steps below make of it
    raw_out = raw_text if raw_text != "" else None
    text = _DASHES.sub("-", unicodedata.normalize("NFKC", raw_text)).strip()
    if not any(c.isdigit() for c in text):
        return PhoneCheck(raw_out, (), (), PHONE_MISSING, "电话缺失")

    numbers: list[str] = []
    invalid: list[str] = []
    reasons: list[str] = []
    for piece in _RE_SPLIT.split(text):
        piece = piece.strip()
        if not piece:
            continue
        if _RE_SCIENTIFIC.fullmatch(piece):
            invalid.append(piece)
            reasons.append("号码被Excel改为科学计数法")
            continue
        # "13812345678.0": a number cell exported through float.
        piece = _RE_POINT_ZERO.sub(r"\1", piece)
        for text_run, number, reason in _runs(piece):
            if number:
                if number not in numbers:
                    numbers.append(number)
            else:
                invalid.append(text_run)
                reasons.append(f"{text_run}：{reason}")

    if numbers:
        # Short digit runs beside a valid number are labels ("2号", "女儿1"), not numbers.
        keep = [i for i, t in enumerate(invalid) if sum(c.isdigit() for c in t) >= _MIN_DIGITS]
        invalid = [invalid[i] for i in keep]
        reasons = [reasons[i] for i in keep]
    if not numbers and not invalid:
        return PhoneCheck(raw_out, (), (), PHONE_MISSING, "电话缺失")
    if not invalid:
        return PhoneCheck(raw_out, tuple(numbers), (), PHONE_OK, "")
    message = "；".join(reasons)
    status = PHONE_PARTIAL if numbers else PHONE_INVALID
    if status == PHONE_PARTIAL:
        message = "部分号码无效：" + message
    return PhoneCheck(raw_out, tuple(numbers), tuple(invalid), status, message)
