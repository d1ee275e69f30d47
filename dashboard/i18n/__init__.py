"""UI text in Chinese (default) and English: gettext catalogs read with Babel.

The catalogs are `dashboard/i18n/<lang>/LC_MESSAGES/messages.po`; message ids are stable keys ("map.legend"),
translations may hold `{name}` placeholders filled by `str.format`. A key missing in English falls back to
Chinese, and a key missing everywhere shows itself (so a gap is visible, never a crash). Catalogs are read once
per process (read-only cache; nothing is loaded at import time).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

HERE = Path(__file__).resolve().parent
LANGUAGES = ("zh", "en")
DEFAULT = "zh"
Translator = Callable[..., str]


def catalog_path(lang: str) -> Path:
    return HERE / lang / "LC_MESSAGES" / "messages.po"


@functools.lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """key → text of one language (empty translations left out)."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang: expected one of {', '.join(LANGUAGES)}, got {lang!r}")
    with catalog_path(lang).open("rb") as fh:
        cat = read_po(fh, locale="zh_Hans_CN" if lang == "zh" else "en")
    return {str(m.id): str(m.string) for m in cat if m.id and m.string}


def normalise(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT


def translator(lang: str | None) -> Translator:
    """t(key, _default=None, **values) for `lang` (unknown language → Chinese; unknown key → _default or key)."""
    lang = normalise(lang)
    primary, fallback = catalog(lang), catalog(DEFAULT)

    def t(key: str, _default: str | None = None, **values: Any) -> str:
        text = primary.get(key) or fallback.get(key) or (key if _default is None else _default)
        return text.format(**values) if values else text

    return t


def labels(lang: str | None, prefix: str, codes: Any) -> dict[str, str]:
    """code → text for codes whose keys are `prefix.code` (e.g. labels('en', 'status', schema.VERIFICATION_LABELS))."""
    t = translator(lang)
    return {code: t(f"{prefix}.{code}") for code in codes}
