"""Without Ray: text PostgreSQL cannot store is refused with a field, error answers survive
unencodable input, and a 405 names every method of the path."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from serve.api import create_api
from serve.errors import InvalidInputError
from serve.handlers import error_response
from serve.options import ServiceOptions
from serve.store.runs import check_storable

pytestmark = pytest.mark.security


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"universe": {"exclude_sectors": ["Energy\x00"]}}, "universe.exclude_sectors[0]"),
        ({"base": {"benchmark": "\ud800"}}, "base.benchmark"),
        ({"grid": {"universe.exclude_sectors": [["\x00"]]}},
         "grid['universe.exclude_sectors'][0][0]"),
        ({"grid": {"bad\x00key": [1]}}, "grid['bad\\x00key']"),
    ],
)
def test_text_postgresql_cannot_hold_is_refused_naming_the_field(document, field):
    with pytest.raises(InvalidInputError) as refused:
        check_storable(document)
    assert refused.value.field == field
    assert "NUL characters or unpaired surrogates" in refused.value.message


def test_ordinary_text_sql_and_unicode_are_storable():
    check_storable({"universe": {"exclude_sectors": ["'); DROP TABLE runs; --", "가치 🙂"]},
                    "ranking": [{"factor": "PBR", "weight": 1.5}], "top_n": 5, "x": None})


def test_an_error_answer_survives_an_unpaired_surrogate():
    answer = error_response(422, code="invalid", message='Got "\ud800" for benchmark',
                            field="benchmark")
    assert json.loads(answer.body)["error"]["message"] == 'Got "\\ud800" for benchmark'


def test_405_names_every_method_the_path_takes():
    app = create_api(SimpleNamespace(options=ServiceOptions()))  # type: ignore[arg-type]
    client = TestClient(app)  # no lifespan: the routes that 405 never reach the service
    answers = {path: client.put(path) for path in
               ("/v1/backtests", "/v1/backtests/x", "/v1/sweeps/x", "/healthz")}
    assert {path: (a.status_code, a.headers["allow"]) for path, a in answers.items()} == {
        "/v1/backtests": (405, "GET, POST"),
        "/v1/backtests/x": (405, "DELETE, GET"),
        "/v1/sweeps/x": (405, "DELETE, GET"),
        "/healthz": (405, "GET"),
    }
