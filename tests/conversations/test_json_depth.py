"""The nesting limit of client JSON: arrays and objects count alike, brackets inside strings
do not, and exactly the limit is allowed; text and bytes are read the same way."""

from __future__ import annotations

import pytest

from conversations.json_depth import MAX_DEPTH, TooDeep, check_depth

FORMS = [pytest.param(str, id="text"), pytest.param(str.encode, id="bytes")]


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def refused(document: str | bytes, **kwargs) -> str:
    with pytest.raises(TooDeep) as raised:
        check_depth(document, **kwargs)
    return str(raised.value)


def test_the_limit_is_64_levels():
    assert MAX_DEPTH == 64
    assert refused(arrays(65)) == "The JSON is nested too deeply: at most 64 levels are allowed."


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("nest", [arrays, objects], ids=["arrays", "objects"])
def test_exactly_the_limit_is_allowed_one_more_is_not(form, nest):
    check_depth(form(nest(MAX_DEPTH)))
    assert "at most 64 levels" in refused(form(nest(MAX_DEPTH + 1)))


@pytest.mark.parametrize("form", FORMS)
def test_arrays_and_objects_count_together(form):
    mixed = '[{"a":' * 3 + "1" + "}]" * 3
    check_depth(form(mixed), limit=6)
    assert refused(form(mixed), limit=5) == (
        "The JSON is nested too deeply: at most 5 levels are allowed."
    )


@pytest.mark.parametrize("form", FORMS)
def test_many_shallow_siblings_are_not_deep(form):
    check_depth(form("[" + "[[]]," * 200 + "[]]"), limit=3)
    check_depth(form("[" + '{"a": {}},' * 200 + "{}]"), limit=3)


@pytest.mark.parametrize("form", FORMS)
def test_depth_counts_back_down_after_each_close(form):
    # 64 deep, back to 63, then two more: 65.
    deeper = "[" * 64 + "]" + "[[" + "]" * 65
    assert "at most 64 levels" in refused(form(deeper))
    # Down by one per close, not more: after four closes, five more opens reach 65.
    climbing = "[" * 60 + "[]" * 4 + "[" * 5 + "]" * 65
    assert "at most 64 levels" in refused(form(climbing))
    check_depth(form("[" * 60 + "[]" * 4 + "[" * 4 + "]" * 64))


@pytest.mark.parametrize("form", FORMS)
def test_brackets_inside_strings_do_not_count(form):
    check_depth(form('["' + "[{" * 100 + '"]'), limit=1)
    check_depth(form(r'["a \" [[[[ \\", "' + "[" * 100 + '"]'), limit=1)
    assert "at most 1 levels" in refused(form(r'["\\"' + ", [[]]]"), limit=1)


@pytest.mark.parametrize("form", FORMS)
def test_an_unterminated_string_hides_the_brackets_after_it(form):
    check_depth(form('["' + "[" * 100), limit=1)


def test_multibyte_text_does_not_shift_the_count():
    document = '["é漢🙂", ' * 40 + "1" + "]" * 40
    check_depth(document.encode(), limit=40)
    assert "at most 39 levels" in refused(document.encode(), limit=39)
    check_depth(document, limit=40)
