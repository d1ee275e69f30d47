"""The comparison charts as one PNG (matplotlib), for the street's weekly report.

Why matplotlib and not plotly's own image export: kaleido 1.x does work offline with Debian's chromium, but it
starts a browser for every picture (~4 s each here) and needs one on every server; matplotlib (already used by
layers.png_export) draws the same bars and lines in well under a second with no browser.

Input is `compare_views.compare_data` output (aggregates only, '<5' already in place of small counts), so the
picture can hold nothing the page does not. Chinese text needs a CJK font (layers.png_export.cjk_font); without
one, community ids and English labels stand in for Chinese text that would draw as empty boxes.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from geodata import schema
from layers import png_export

SIZE_INCHES = (15.0, 10.5)
DPI = 110
BAR_COLOR = "#6b8fb5"
MEDIAN_COLOR = "#1f2933"
SUPPRESSED_COLOR = "#9aa5b1"


def _share(unit: str) -> bool:
    return unit == "share"


def _bars(ax: Any, panel: Mapping[str, Any], *, title: str, names: list[str], median_label: str,
          font: str | None, big: bool) -> None:
    unit = panel["indicator"]["unit"]
    scale = 100.0 if _share(unit) else 1.0
    values = panel["values"]
    ys = list(range(len(values)))[::-1]          # the first (best) at the top
    widths = [0.0 if v["value"] is None else v["value"] * scale for v in values]
    fills = [v.get("color") or BAR_COLOR for v in values] if big else BAR_COLOR
    ax.barh(ys, widths, color=fills, edgecolor="#52606d" if big else "none", linewidth=0.5, height=0.72)
    top = max([w for w in widths if w] or [1.0])
    for y, v, w in zip(ys, values, widths):
        ax.text(w + top * 0.01, y, v["text"], va="center", ha="left", fontsize=8 if big else 6.5,
                color=SUPPRESSED_COLOR if v["suppressed"] else "#1f2933")
    if panel.get("median") is not None:
        ax.axvline(panel["median"] * scale, color=MEDIAN_COLOR, linestyle="--", linewidth=1)
        ax.text(panel["median"] * scale, len(values) - 0.4, f"{median_label} {panel['median_text']}",
                fontsize=7 if big else 6, ha="center", va="bottom", color=MEDIAN_COLOR,
                **({"fontfamily": font} if font else {}))
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=8 if big else 6.5, **({"fontfamily": font} if font else {}))
    ax.set_xlim(0, top * 1.18)
    ax.set_title(title, fontsize=12 if big else 8.5, loc="left", **({"fontfamily": font} if font else {}))
    ax.tick_params(axis="x", labelsize=7)
    if _share(unit):
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:.0f}%")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _lines(ax: Any, series: Mapping[str, Any], unit: str, *, title: str, names: dict[int, str],
           median_label: str, font: str | None) -> None:
    import matplotlib.dates as mdates
    import numpy as np
    import pandas as pd

    scale = 100.0 if _share(unit) else 1.0
    days = pd.to_datetime(series["days"])
    for line in series["lines"]:
        ys = np.array([np.nan if v is None else v * scale for v in line["values"]], dtype=float)
        ax.plot(days, ys, marker="o", markersize=3, linewidth=1.2, label=names[line["community_id"]])
    median = np.array([np.nan if v is None else v * scale for v in series["median"]], dtype=float)
    ax.plot(days, median, color=MEDIAN_COLOR, linestyle="--", linewidth=2, label=median_label)
    ax.set_title(title, fontsize=12, loc="left", **({"fontfamily": font} if font else {}))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.tick_params(labelsize=7)
    if _share(unit):
        ax.yaxis.set_major_formatter(lambda x, _pos: f"{x:.0f}%")
    ax.legend(fontsize=6.5, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
              prop={"family": font, "size": 6.5} if font else None)
    ax.grid(axis="y", color="#e4e7eb")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def charts_png(data: Mapping[str, Any], *, lang: str = "zh", labels: Mapping[str, str] | None = None,
               font: str | None | bool = True) -> bytes:
    """PNG bytes: title, the chosen indicator's bars (coloured as on the map) beside its trend lines, and the
    small multiples below. `labels` holds translated texts: title ('{street}', '{as_of}'), against ('{against}'),
    trend ('{label}'), median, note, synthetic.
    `font`: True picks `png_export.cjk_font()`, a family name forces it, None/False draws without one."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    labels = dict(labels or {})
    family = png_export.cjk_font() if font is True else (font or None)
    english = lang == "en" or family is None

    def ind_label(ind: Mapping[str, Any]) -> str:
        return ind["label_en"] if english else ind["label_zh"]

    def text(value: str, fallback: str) -> str:
        return value if family is not None or value.isascii() else fallback

    bars = data["bars"]
    names = {v["community_id"]: text(v["community"], f"#{v['community_id']}") for v in bars[0]["values"]}
    median_label = text(labels.get("median") or "街道中位数", "median")
    fig = plt.figure(figsize=SIZE_INCHES, dpi=DPI)
    try:
        grid = fig.add_gridspec(3, 6, height_ratios=[1.5, 1, 1], hspace=0.55, wspace=0.9)
        chosen = ind_label(bars[0]["indicator"])
        _bars(fig.add_subplot(grid[0, :3]), bars[0], title=chosen,
              names=[names[v["community_id"]] for v in bars[0]["values"]], median_label=median_label,
              font=family, big=True)
        if data.get("series"):
            trend = labels.get("trend") or "{label}：变化趋势"
            _lines(fig.add_subplot(grid[0, 3:5]), data["series"], bars[0]["indicator"]["unit"],
                   title=text(trend.format(label=chosen), f"{chosen}: trend"), names=names,
                   median_label=median_label, font=family)
        for i, panel in enumerate(bars[1:7]):
            ax = fig.add_subplot(grid[1 + i // 3, (i % 3) * 2:(i % 3) * 2 + 2])
            _bars(ax, panel, title=ind_label(panel["indicator"]),
                  names=[names[v["community_id"]] for v in panel["values"]], median_label=median_label,
                  font=family, big=False)
        street = data["street"]
        title = (labels.get("title") or "{street} 社区对比 · 截至 {as_of}").format(street=street["label"],
                                                                              as_of=data["as_of"])
        if data.get("against"):
            title += (labels.get("against") or "（对比 {against}）").format(against=data["against"])
        if street.get("synthetic"):
            title += f" · {labels.get('synthetic') or schema.SYNTHETIC_LABEL}"
        fallback = f"street {street['id']} · {data['as_of']}" + (" · synthetic" if street.get("synthetic") else "")
        fig.suptitle(text(title, fallback), fontsize=15, x=0.02, ha="left",
                     **({"fontfamily": family} if family else {}))
        note = labels.get("note") or f"“{data['suppress_text']}”：不足5户，不予显示。"
        fig.text(0.02, 0.01, text(note, f"'{data['suppress_text']}': fewer than 5 households, not shown."),
                 fontsize=8, color="#52606d", **({"fontfamily": family} if family else {}))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="#ffffff")
        return buffer.getvalue()
    finally:
        plt.close(fig)
