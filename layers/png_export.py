"""The map as a PNG picture (matplotlib + geopandas), for reports and chat groups.

Chinese text needs a CJK font: the first installed one of CJK_FONTS is used (Debian: fonts-noto-cjk). Without
one (a bare CI machine) the picture is still drawn, with language-neutral labels (codes and numbers) instead of
Chinese text that would render as empty boxes.
"""
from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from typing import Any

import geopandas as gpd

from geodata import schema
from layers import buildings, colors, folium_export, legend

#: Font families tried, in order, for Chinese labels.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC")
SIZE_INCHES = (10.0, 7.5)
DPI = 120


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font, or None."""
    from matplotlib import font_manager
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _text(value: str, fallback: str, font: str | None) -> str:
    return value if font is not None or value.isascii() else fallback


def map_png(data: Mapping[str, Any], *, theme: str = legend.THEME_STATUS, category: str | None = None,
            labels: Mapping[str, Any] | None = None, font: str | None | bool = True) -> bytes:
    """PNG bytes of a community map (`views.map_data` output) in one theme, with a legend and building numbers.

    `font`: True picks `cjk_font()`, a family name forces it, None/False draws without a CJK font.
    """
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch

    if theme not in legend.THEMES:
        raise ValueError(f"theme: expected one of {', '.join(legend.THEMES)}, got {theme!r}")
    labels = dict(labels or {})
    family = cjk_font() if font is True else (font or None)
    text_kw: dict[str, Any] = {"fontfamily": family} if family else {}
    community = data["community"]

    fig, ax = plt.subplots(figsize=SIZE_INCHES, dpi=DPI)
    try:
        ax.set_axis_off()
        ax.set_facecolor("#eef1f4")
        for key, style in (("outline", {"color": "#fbfaf6", "edgecolor": "#8d99ae", "linewidth": 1.5}),
                           ("grids", None), ("paths", {"color": "#ffffff", "linewidth": 3})):
            features = data.get(key, {}).get("features") or []
            if not features:
                continue
            frame = gpd.GeoDataFrame.from_features(features, crs=schema.STORE_CRS)
            if key == "grids":
                frame.plot(ax=ax, color=[f["properties"].get("color") or colors.NO_DATA_COLOR for f in features],
                           alpha=0.55, edgecolor="#2f4b7c", linewidth=1.2, linestyle="--")
            else:
                frame.plot(ax=ax, **style)
        features = data["buildings"]["features"]
        if features:
            frame = gpd.GeoDataFrame.from_features(features, crs=schema.STORE_CRS)
            chosen = data.get("category_classes", {}).get(category or "")
            styles = [folium_export.building_style(f["properties"], theme, category, chosen) for f in features]
            frame.plot(ax=ax, color=[s["fillColor"] for s in styles], edgecolor=[s["color"] for s in styles],
                       linewidth=[1.6 if s["weight"] > 2 else 0.4 for s in styles])
            for f, point in zip(features, frame.geometry.representative_point()):
                ax.annotate(str(f["properties"].get(buildings.P_NUMBER) or ""), (point.x, point.y), ha="center",
                            va="center", fontsize=6, color="#1f2933")
        issues = data.get("issues", {}).get("features") or []
        if issues:
            ax.scatter([f["geometry"]["coordinates"][0] for f in issues],
                       [f["geometry"]["coordinates"][1] for f in issues],
                       s=[f["properties"]["size"] * 2 for f in issues],
                       c=[f["properties"]["color"] for f in issues], edgecolors="#ffffff", linewidths=1, zorder=5)
        items = labels.get("legend") or legend.legend(theme)
        codes = [f"{i}" for i in range(len(items))]
        if theme == legend.THEME_STATUS:
            codes = list(colors.STATUS_ORDER)
        handles = [Patch(facecolor=c, edgecolor="#9aa5b1", label=_text(label, code, family))
                   for (c, label), code in zip(items, codes)]
        if theme == legend.THEME_STATUS:
            handles.append(Patch(facecolor="#ffffff", edgecolor=colors.MISMATCH_COLOR, linewidth=2,
                                 label=_text(labels.get("mismatch") or legend.mismatch_legend()[0][1],
                                             "open mismatches", family)))
        ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.95,
                  title=_text(labels.get("legend_title") or "", theme, family) or None,
                  prop={"family": family} if family else None)
        title = labels.get("title") or community["name"]
        fallback = f'{community.get("code") or community["id"]} · {theme}'
        if community.get("synthetic"):
            title += f" · {schema.SYNTHETIC_LABEL}"
        ax.set_title(_text(title, fallback + (" · synthetic" if community.get("synthetic") else ""), family),
                     fontsize=13, **text_kw)
        ax.set_aspect(1 / 0.85)     # ~1/cos(latitude) at Changzhou: buildings keep their shape
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="#ffffff")
        return buffer.getvalue()
    finally:
        plt.close(fig)
