"""Checks of what a callback receives from the browser: ids, texts, codes, lists, mappings and dates.

A callback's inputs come from the page's own controls, but the request that carries them can be crafted (or a page
can be stale): a building id where a household id belongs, a name where a number is expected, a list where one value
is. The functions here turn a value into the kind the callback needs, or raise BadInput; `checked` makes a callback
answer BadInput with the page's "invalid request" message (`notice`), or with no update where the callback has no
message slot, instead of an HTTP 500. Only BadInput is caught, so a real bug still surfaces as one.

Whether a well-formed id lies in the user's area is not decided here: geodata.access decides that, and the pages say
"无权查看" for it. BadInput names the input, what was expected and the kind of value that arrived (its type and
length), never the value itself (it may be a resident's name or ID number), so it may be logged.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from dash import ctx
from dash.exceptions import PreventUpdate

from dashboard.components import common
from dashboard.i18n import Translator, translator

LOG = logging.getLogger(__name__)
#: Ids are INTEGER columns (int4 on PostgreSQL): a larger number cannot name a row, and would fail in the driver.
MAX_ID = 2**31 - 1
#: The language switch of the page shell: `checked` answers in its language.
LANG = "lang-switch"
_DIGITS = re.compile(r"[0-9]{1,10}")
F = TypeVar("F", bound=Callable[..., Any])


class BadInput(ValueError):
    """A callback input is not of the kind the callback expects. The message never carries the value."""

    def __init__(self, what: str, expected: str, value: Any) -> None:
        super().__init__(f"{what}: expected {expected}, got {_kind(value)}")
        self.what, self.expected = what, expected


def _kind(value: Any) -> str:
    """What arrived, without its content: 'str of length 3', 'list of length 2', 'int', 'NoneType'."""
    if isinstance(value, (str, list, tuple, dict)):
        return f"{type(value).__name__} of length {len(value)}"
    return type(value).__name__


def an_id(value: Any, what: str) -> int:
    """A record id (1 … MAX_ID) from a whole number or a string of ASCII digits; BadInput for anything else
    (None, a bool, a float, a name, a list, a dict, an id out of range)."""
    return _whole(value, what, 1)


def index(value: Any, what: str) -> int:
    """A position in a list (0 … MAX_ID), e.g. the `n` of a pattern-matching id, like `an_id` otherwise."""
    return _whole(value, what, 0)


def _whole(value: Any, what: str, low: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value)
    if number is None or not low <= number <= MAX_ID:
        raise BadInput(what, f"a whole number from {low} to {MAX_ID}", value)
    return number


def optional_id(value: Any, what: str) -> int | None:
    """None for no choice (None or ''), otherwise `an_id`."""
    return None if value is None or value == "" else an_id(value, what)


def ids(value: Any, what: str) -> list[int]:
    """A list of record ids (None → []); BadInput for a non-list or any item that is not an id."""
    return [an_id(v, what) for v in sequence(value, what)]


def text(value: Any, what: str) -> str:
    """A typed text ('' for None); BadInput for a number, a list or anything else that no text box sends."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadInput(what, "a text", value)
    return value


def code(value: Any, allowed: Collection[str], what: str) -> str:
    """One code among `allowed` (e.g. the keys of a schema.*_LABELS mapping); BadInput for anything else."""
    if not isinstance(value, str) or value not in allowed:
        raise BadInput(what, f"one of {', '.join(allowed)}", value)
    return value


def optional_code(value: Any, allowed: Collection[str], what: str) -> str | None:
    """None for no choice (None or ''), otherwise `code`."""
    return None if value is None or value == "" else code(value, allowed, what)


def codes(value: Any, allowed: Collection[str], what: str) -> list[str]:
    """A checklist's codes, each among `allowed` (None → [])."""
    return [code(v, allowed, what) for v in sequence(value, what)]


def sequence(value: Any, what: str) -> list[Any]:
    """A list (a pattern-matching input's values, a checklist's value); None → []."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise BadInput(what, "a list", value)
    return list(value)


def mapping(value: Any, what: str) -> dict[str, Any]:
    """A dict (a dcc.Store's record, a click's properties); None → {}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(what, "a mapping", value)
    return value


def version(versions: Any, household_id: int) -> int | None:
    """A household's version when the flat page was drawn, from the page's {household id: version} store (None
    when the store does not have it: the save then does not check for a concurrent change)."""
    value = mapping(versions, "versions").get(str(household_id))
    return None if value is None else index(value, "versions")


def properties(click: Any) -> dict[str, Any]:
    """The properties of a clicked GeoJSON feature (a dash-leaflet layer's clickData); {} for no click."""
    return mapping(mapping(click, "clickData").get("properties"), "clickData.properties")


def day(value: Any, what: str) -> dt.date | None:
    """A date picker's value ('2020-03-25' or '2020-03-25T00:00:00') as a date; None for no date."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise BadInput(what, "a date YYYY-MM-DD", value)


def notice(t: Translator, **kwargs: Any) -> Any:
    """The page's message for an invalid request (in the user's language)."""
    return common.notice(t("error.request"), "error", **kwargs)


def _lang() -> str | None:
    """The language of the current callback, when it receives the language switch's value."""
    key = f"{LANG}.value"
    value = ctx.states.get(key, ctx.inputs.get(key))
    return value if isinstance(value, str) else None


def checked(reply: Callable[[Translator], Any] | None = None) -> Callable[[F], F]:
    """Make a Dash callback answer BadInput with `reply(t)` (its outputs, the message slot holding `notice(t)`), or
    with no update at all (PreventUpdate) when `reply` is None. Put it below `@app.callback`. The log line names the
    callback and the input, never the value."""
    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except BadInput as exc:
                LOG.warning("callback %s refused an invalid input: %s", func.__name__, exc)
                if reply is None:
                    raise PreventUpdate from None
                return reply(translator(_lang()))
        return wrapper  # type: ignore[return-value]
    return decorate
