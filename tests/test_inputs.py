"""dashboard.inputs: callback inputs of the wrong kind are refused with BadInput (which never carries the value), and
`checked` turns BadInput into the page's translated message or no update — other exceptions still surface as 500."""
from __future__ import annotations

import datetime as dt
import logging

import dash
import pytest
from dash import Input, Output, State, dcc, html, no_update

from dashboard import inputs
from dashboard.components import verify
from geodata import schema

NAME = "刘丽华"
ID_NUMBER = "320402198001011234"


def test_an_id_takes_whole_numbers_and_digit_strings():
    assert inputs.an_id(12, "flat") == 12
    assert inputs.an_id("12", "flat") == 12 and inputs.an_id(" 7 ", "flat") == 7
    assert inputs.an_id(inputs.MAX_ID, "flat") == inputs.MAX_ID
    assert inputs.optional_id(None, "flat") is None and inputs.optional_id("", "flat") is None
    assert inputs.index(0, "hit") == 0


@pytest.mark.parametrize("value", [None, True, False, 1.0, 0, -3, inputs.MAX_ID + 1, 2**63, "", "12a", "１２",
                                   "1e3", NAME, [1], {"id": 1}, "9" * 20])
def test_an_id_refuses_anything_else(value):
    with pytest.raises(inputs.BadInput, match="^flat: expected a whole number from 1 to"):
        inputs.an_id(value, "flat")


def test_bad_input_names_the_input_and_the_kind_never_the_value():
    for value in (NAME, ID_NUMBER, [NAME], {"name": NAME}):
        with pytest.raises(inputs.BadInput) as caught:
            inputs.an_id(value, "household")
        message = str(caught.value)
        assert NAME not in message and ID_NUMBER not in message
        assert message.startswith("household: expected") and type(value).__name__ in message
    assert isinstance(caught.value, ValueError) and caught.value.what == "household"


def test_codes_and_texts():
    assert inputs.code(schema.M_PHONE, schema.METHOD_LABELS, "method") == schema.M_PHONE
    assert inputs.optional_code("", schema.METHOD_LABELS, "method") is None
    assert inputs.codes(None, ("a", "b"), "only") == [] and inputs.codes(["b", "a"], ("a", "b"), "only") == ["b", "a"]
    for bad in (None, "fax", ["phone"], {"phone": 1}, 3):     # unhashable values must not end in a TypeError
        with pytest.raises(inputs.BadInput, match="^method: expected one of"):
            inputs.code(bad, schema.METHOD_LABELS, "method")
    for bad in (3, "ab", ["a", ["b"]]):
        with pytest.raises(inputs.BadInput):
            inputs.codes(bad, ("a", "b"), "only")
    assert inputs.text(None, "note") == "" and inputs.text(" x ", "note") == " x "
    for bad in (3, [NAME], {"a": 1}, True):
        with pytest.raises(inputs.BadInput, match="^note: expected a text, got"):
            inputs.text(bad, "note")


def test_lists_mappings_and_clicks():
    assert inputs.ids(["3", 4], "findings") == [3, 4] and inputs.ids(None, "findings") == []
    with pytest.raises(inputs.BadInput):
        inputs.ids(5, "findings")
    with pytest.raises(inputs.BadInput):
        inputs.ids([5, NAME], "findings")
    assert inputs.sequence((1, 2), "x") == [1, 2]
    assert inputs.mapping(None, "meta") == {} and inputs.mapping({"a": 1}, "meta") == {"a": 1}
    with pytest.raises(inputs.BadInput, match="^meta: expected a mapping, got list of length 1"):
        inputs.mapping([1], "meta")
    assert inputs.properties(None) == {} and inputs.properties({"properties": {"id": 3}}) == {"id": 3}
    for bad in (3, {"properties": [1]}, {"properties": NAME}):
        with pytest.raises(inputs.BadInput):
            inputs.properties(bad)
    assert inputs.version({"12": 3}, 12) == 3 and inputs.version(None, 12) is None and inputs.version({}, 12) is None
    for bad in (7, NAME, {"12": NAME}, {"12": [1]}):
        with pytest.raises(inputs.BadInput):
            inputs.version(bad, 12)


def test_days():
    assert inputs.day("2024-03-01", "start") == dt.date(2024, 3, 1)
    assert inputs.day("2024-03-01T00:00:00", "start") == dt.date(2024, 3, 1)
    assert inputs.day(None, "start") is None and inputs.day("", "start") is None
    for bad in ("01.03.2024", "2024-02-30", 20240301, ["2024-03-01"]):
        with pytest.raises(inputs.BadInput, match="^start: expected a date YYYY-MM-DD"):
            inputs.day(bad, "start")


def test_verify_form_values_checks_each_field():
    def state(ident, value):
        return {"id": ident, "property": "value", "value": value}

    relation = next(iter(schema.RELATION_LABELS))
    person = [state({"type": verify.PERSON, "person": 5, "field": "relation"}, relation),
              state({"type": verify.PERSON, "person": 5, "field": "active"}, ["moved"])]
    new = [state({"type": verify.NEW, "hh": 1, "index": 0, "field": "name"}, "新人"),
           state({"type": verify.NEW, "hh": 2, "index": 0, "field": "name"}, "别户")]   # another household's row
    assert verify.form_values(1, [], person, new) == {
        "household": {}, "persons": {5: {"relation": relation, "active": ["moved"]}},
        "new_members": [{"name": "新人"}]}
    for bad in ([state({"type": verify.PERSON, "person": NAME, "field": "name"}, "x")],       # a name as person id
                [state({"type": verify.PERSON, "person": 5, "field": "relation"}, [relation])],  # a list
                [state({"type": verify.PERSON, "person": 5, "field": "name"}, 7)],           # a number as a name
                [state("not-an-id", "x")], 5):
        with pytest.raises(inputs.BadInput):
            verify.form_values(1, [], bad, [])


# --- checked: a tiny app served for real ---------------------------------------------------------------------------

def _app() -> dash.Dash:
    app = dash.Dash(__name__)
    app.layout = html.Div([dcc.RadioItems(id=inputs.LANG, options=["zh", "en"], value="zh"), dcc.Input(id="box"),
                           html.Div(id="out"), html.Div(id="message"), html.Div(id="quiet")])

    @app.callback(Output("out", "children"), Output("message", "children"), Input("box", "value"),
                  State(inputs.LANG, "value"), prevent_initial_call=True)
    @inputs.checked(lambda t: (no_update, inputs.notice(t, id="box-error")))
    def with_message(value, lang):  # type: ignore[no-untyped-def]
        if value == "bug":
            raise KeyError("a real bug")
        return f"flat {inputs.an_id(value, 'flat')}", ""

    @app.callback(Output("quiet", "children"), Input("box", "n_submit"), State("box", "value"),
                  prevent_initial_call=True)
    @inputs.checked()
    def without_message(_n, value):  # type: ignore[no-untyped-def]
        return str(inputs.an_id(value, "flat"))

    return app


def _post(client, value, lang="zh", *, quiet: bool = False):
    if quiet:
        payload = {"output": "quiet.children", "outputs": {"id": "quiet", "property": "children"},
                   "inputs": [{"id": "box", "property": "n_submit", "value": 1}],
                   "state": [{"id": "box", "property": "value", "value": value}], "changedPropIds": ["box.n_submit"]}
    else:
        payload = {"output": "..out.children...message.children..",
                   "outputs": [{"id": "out", "property": "children"}, {"id": "message", "property": "children"}],
                   "inputs": [{"id": "box", "property": "value", "value": value}],
                   "state": [{"id": inputs.LANG, "property": "value", "value": lang}], "changedPropIds": ["box.value"]}
    return client.post("/_dash-update-component", json=payload)


@pytest.fixture
def client():
    app = _app()
    test_client = app.server.test_client()
    assert test_client.get("/_dash-layout").status_code == 200
    return test_client


def test_checked_answers_bad_input_with_the_message_in_the_users_language(client, caplog):
    caplog.set_level(logging.WARNING, logger="dashboard.inputs")
    ok = _post(client, "12")
    assert ok.status_code == 200 and ok.get_json()["response"]["out"]["children"] == "flat 12"
    zh = _post(client, NAME)
    assert zh.status_code == 200
    response = zh.get_json()["response"]
    assert "out" not in response                        # no update where the reply says so
    assert response["message"]["children"]["props"]["id"] == "box-error"
    assert response["message"]["children"]["props"]["children"].startswith("请求无效")
    en = _post(client, [NAME], lang="en")
    assert en.get_json()["response"]["message"]["children"]["props"]["children"].startswith("Invalid request")
    logged = [r.getMessage() for r in caplog.records]
    assert any("with_message" in m and "flat: expected" in m for m in logged)
    assert not any(NAME in m for m in logged)           # the value itself is never logged


def test_checked_without_a_reply_updates_nothing(client):
    assert _post(client, "7", quiet=True).get_json()["response"]["quiet"]["children"] == "7"
    assert _post(client, NAME, quiet=True).status_code == 204


def test_checked_lets_real_bugs_surface(client):
    assert _post(client, "bug").status_code == 500
