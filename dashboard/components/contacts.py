"""Who to call (联系人): a flat's contacts as a list — name, 户主 chip, masked phone, and where the contact comes from
(登记表, 原住户 no longer in the register with the date it left, 卡口登记 with the registration date).

The rows come from dashboard.views (`flat_detail["contacts"]`, the leak sources of `issue_detail`), built from
geodata.contacts with phones already masked; the flat page's 查看完整信息 panel is where a permitted role sees a full
value. Used by the flat page's card and the event page's leak sources.
"""
from __future__ import annotations

from typing import Any

from dash import html

from dashboard.i18n import Translator


def contact_list(people: list[dict[str, Any]], t: Translator, *, empty: str, **kwargs: Any) -> Any:
    """The list of `people` ({"source", "name", "head", "phone" (masked), "since"}), or the `empty` hint."""
    if not people:
        return html.Span(empty, className="gm-hint", **kwargs)
    items = []
    for c in people:
        who = [html.Strong(c["name"]) if c["head"] else c["name"]]
        if c["head"]:
            who.append(html.Span(t("contact.head"), className="gm-chip"))
        source = t(f'contact.source.{c["source"]}') + (f'（{c["since"]}）' if c["since"] else "")
        items.append(html.Li([*who, " ", html.Span(c["phone"] or t("contact.no_phone"), className="gm-num"), " · ",
                              html.Span(source, className=f'gm-hint gm-source-{c["source"]}')]))
    return html.Ul(items, className="gm-contacts", **kwargs)
