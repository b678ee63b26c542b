from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal, NotRequired, Required, TypedDict

import pytest

from model_trainer.core.contracts.typed_json import (
    Problem,
    conforms,
    expected,
    parse_typed,
    read_typed,
    without_none,
)
from model_trainer.core.errors import ModelTrainerError


class Inner(TypedDict):
    n: int
    label: NotRequired[str]


class Loose(TypedDict, total=False):
    x: float
    must: Required[int]


class Shape(TypedDict):
    i: int
    f: float
    s: str
    b: bool
    maybe: str | None
    choice: Literal["a", "b"]
    maybe_choice: Literal["a", "b"] | None
    many: list[int]
    fixed: tuple[int, str]
    rest: tuple[float, ...]
    table: dict[str, int]
    anything: object
    inner: Inner
    inners: list[Inner]
    maybe_inner: Inner | None
    loose: Loose
    either: int | str


class Odd(TypedDict):
    tags: set[str]


def good() -> dict[str, object]:
    return {
        "i": 3,
        "f": 2,
        "s": "text",
        "b": False,
        "maybe": None,
        "choice": "a",
        "maybe_choice": None,
        "many": [1, 2],
        "fixed": [1, "one"],
        "rest": [1, 2.5],
        "table": {"k": 1},
        "anything": {"free": [None]},
        "inner": {"n": 1, "label": "x"},
        "inners": [{"n": 2}],
        "maybe_inner": {"n": 3},
        "loose": {"must": 1},
        "either": "word",
    }


def parse(data: object, *, unknown: Literal["reject", "ignore"] = "reject") -> Shape:
    return parse_typed(data, Shape, where="file.json", code="MODEL_LOAD_FAILED", unknown=unknown)


def test_a_fitting_object_is_read_with_floats_widened_and_tuples_made() -> None:
    shape = parse(good())
    expected_shape: Shape = {
        "i": 3,
        "f": 2.0,
        "s": "text",
        "b": False,
        "maybe": None,
        "choice": "a",
        "maybe_choice": None,
        "many": [1, 2],
        "fixed": (1, "one"),
        "rest": (1.0, 2.5),
        "table": {"k": 1},
        "anything": {"free": [None]},
        "inner": {"n": 1, "label": "x"},
        "inners": [{"n": 2}],
        "maybe_inner": {"n": 3},
        "loose": {"must": 1},
        "either": "word",
    }
    assert shape == expected_shape
    assert type(shape["f"]) is float
    assert type(shape["rest"][0]) is float
    assert parse({**good(), "either": 4, "loose": {"x": 1, "must": 2}})["loose"] == {
        "x": 1.0,
        "must": 2,
    }


def test_unknown_keys_are_dropped_when_ignored() -> None:
    data = {**good(), "extra": 1, "inner": {"n": 1, "more": 2}}
    shape = parse(data, unknown="ignore")
    assert "extra" not in shape
    assert shape["inner"] == {"n": 1}


def test_the_input_is_never_changed() -> None:
    data = good()
    parse(data)
    assert data == good()


def _with(key: str, value: object) -> dict[str, object]:
    return {**good(), key: value}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([good()], "file.json: must hold a JSON object, got list"),
        ({key: v for key, v in good().items() if key not in ("i", "s")}, "file.json: lacks i, s"),
        (_with("i", True), "file.json: i must be an integer, got True"),
        (_with("i", 1.5), "file.json: i must be an integer, got 1.5"),
        (_with("f", "x"), "file.json: f must be a number, got 'x'"),
        (_with("f", False), "file.json: f must be a number, got False"),
        (_with("s", 1), "file.json: s must be a string, got 1"),
        (_with("b", 1), "file.json: b must be true or false, got 1"),
        (_with("maybe", 1), "file.json: maybe must be a string or null, got 1"),
        (_with("choice", "c"), "file.json: choice must be one of a, b, got 'c'"),
        (_with("maybe_choice", 1), "file.json: maybe_choice must be one of a, b or null, got 1"),
        (_with("many", "x"), "file.json: many must be a list, got 'x'"),
        (_with("many", [1, "x"]), "file.json: many[1] must be an integer, got 'x'"),
        (_with("fixed", [1]), "file.json: fixed must be a list of 2 items, got [1]"),
        (_with("fixed", [1, 2]), "file.json: fixed[1] must be a string, got 2"),
        (_with("rest", [1, "x"]), "file.json: rest[1] must be a number, got 'x'"),
        (_with("table", []), "file.json: table must be an object, got []"),
        (_with("table", {"k": "v"}), "file.json: table.k must be an integer, got 'v'"),
        (_with("inner", 3), "file.json: inner must be an object, got 3"),
        (_with("inner", {"label": "x"}), "file.json: inner lacks n"),
        (
            _with("inner", {"n": 1, "z": 2}),
            "file.json: inner has unknown field(s) z; known: label, n",
        ),
        (_with("inners", [{"n": "1"}]), "file.json: inners[0].n must be an integer, got '1'"),
        (_with("maybe_inner", {"n": "x"}), "file.json: maybe_inner.n must be an integer, got 'x'"),
        (_with("maybe_inner", 7), "file.json: maybe_inner must be an object or null, got 7"),
        (_with("loose", {"x": None, "must": 1}), "file.json: loose.x must be a number, got None"),
        (_with("loose", {"x": 1.0}), "file.json: loose lacks must"),
        (_with("either", 1.5), "file.json: either must be an integer or a string, got 1.5"),
        (_with("extra", 1), "file.json: has unknown field(s) extra; known: anything, b,"),
    ],
)
def test_a_mismatch_names_file_field_expected_and_got(data: object, message: str) -> None:
    with pytest.raises(ModelTrainerError) as caught:
        parse(data)
    assert caught.value.code == "MODEL_LOAD_FAILED"
    assert caught.value.message.startswith(message)


def test_floats_may_be_required_finite() -> None:
    data = _with("f", math.nan)
    assert math.isnan(parse(data)["f"])
    with pytest.raises(ModelTrainerError) as caught:
        parse_typed(data, Shape, where="w", code="INVALID_CONFIG", finite=True)
    assert caught.value.code == "INVALID_CONFIG"
    assert caught.value.message == "w: f must be a finite number, got nan"
    finite = parse_typed(good(), Shape, where="w", code="INVALID_CONFIG", finite=True)
    assert finite["f"] == 2.0


def test_conforms_narrows_and_reports_the_first_problem() -> None:
    problems: list[Problem] = []
    data = good()
    assert conforms(data, Shape, {"unknown": "reject", "finite": False}, problems)
    assert data["fixed"] == (1, "one")
    bad = _with("s", 2)
    assert not conforms(bad, Shape, {"unknown": "reject", "finite": False}, problems)
    assert problems == [{"field": "s", "detail": "must be a string, got 2"}]
    assert bad == _with("s", 2)


def test_an_annotation_the_reader_cannot_check_is_an_internal_error() -> None:
    with pytest.raises(ModelTrainerError) as caught:
        parse_typed({"tags": []}, Odd, where="w", code="MODEL_LOAD_FAILED")
    assert caught.value.code == "INTERNAL_ERROR"
    assert "set[str]" in caught.value.message


def test_expected_in_words() -> None:
    assert expected(int | None) == "an integer or null"
    assert expected(float, finite=True) == "a finite number"
    assert expected(object) == "any value"
    assert expected(tuple[int, ...]) == "a list"
    assert expected(Inner) == "an object"


def test_without_none() -> None:
    assert without_none(int | None) is int
    assert without_none(int) is int
    assert without_none(int | str | None) == int | str | None
    assert without_none(Literal["a", "b"]) == Literal["a", "b"]


def test_read_typed_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "inner.json"
    path.write_text(json.dumps({"n": 4}), encoding="utf-8")
    assert read_typed(path, Inner, where="inner", code="MODEL_LOAD_FAILED") == {"n": 4}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "inner: not JSON (Expecting property name"),
        (b"\xff\xfe", "inner: not JSON (not UTF-8:"),
        (b'{"n": "4"}', "inner: n must be an integer, got '4'"),
    ],
)
def test_read_typed_rejects_a_bad_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "inner.json"
    path.write_bytes(content)
    with pytest.raises(ModelTrainerError) as caught:
        read_typed(str(path), Inner, where="inner", code="MODEL_LOAD_FAILED")
    assert caught.value.code == "MODEL_LOAD_FAILED"
    assert caught.value.message.startswith(message)
