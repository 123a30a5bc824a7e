"""sharing/importing.py called directly, the cases mutation testing found unchecked: each
skip's and each refusal's sentence, the limits at and past their edge (errors listed,
messages, characters, the title, the id, the unzipped size), which file of a zip is read,
every field of a parsed and of a stored conversation, the order of a tree's messages, and
that an import is its user's own (another user's earlier import changes nothing)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.utils import timezone as django_timezone

from conversations.context import count_tokens
from conversations.models import ChatSession, Message
from sharing import importing
from sharing.errors import BadImport
from sharing.importing import SkipConversation
from sharing.models import ImportedConversation

# A mutant that loops (a tree walk that never ends) fails here instead of hanging until
# mutmut's timeout and a 5-minute recheck.
pytestmark = pytest.mark.timeout(60)

T0 = 1_700_000_000


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def gpt_node(node_id, parent, role, text, t=None, **metadata):
    message = {"author": {"role": role}, "content": {"content_type": "text", "parts": [text]}}
    if t is not None:
        message["create_time"] = t
    if metadata:
        message["metadata"] = metadata
    return {"id": node_id, "parent": parent, "message": message}


def gpt(conversation_id="c-1", nodes=(), **fields) -> dict:
    return {
        "conversation_id": conversation_id,
        "title": "A title",
        "create_time": T0,
        "mapping": {node["id"]: node for node in nodes},
        **fields,
    }


def own(session_id="s-1", messages=(), **fields) -> dict:
    listed = list(messages) if isinstance(messages, tuple | list) else messages
    return {"sessionId": session_id, "title": "Own", "messages": listed, **fields}


def skip_reason(item) -> str:
    with pytest.raises(SkipConversation) as caught:
        importing._parse(item)
    return str(caught.value)


def shape(conversation) -> list[tuple]:
    return [(n.key, n.parent, n.role, n.content) for n in conversation.messages]


def run_import(user, data) -> importing.ImportResult:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return importing.import_conversations(user=user, upload=io.BytesIO(raw))


def bad_import(user, raw: bytes) -> str:
    with pytest.raises(BadImport) as caught:
        importing.import_conversations(user=user, upload=io.BytesIO(raw))
    assert (caught.value.field, caught.value.status_code) == ("file", 400)
    return caught.value.detail


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- Parsing, no database ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0, at(T0)),
        (T0 + 0.25, at(T0 + 0.25)),
        (0, at(0)),
        (True, "default"),
        (False, "default"),
        (1e20, "default"),
        (float("nan"), "default"),
        ("2024-01-02T03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("yesterday", "default"),
        (None, "default"),
        ([T0], "default"),
    ],
)
def test_a_timestamp_is_seconds_or_iso_text_else_the_default(value, expected):
    default = datetime(2001, 1, 1, tzinfo=UTC)
    got = importing._timestamp(value, default)
    assert got == (default if expected == "default" else expected)
    assert got.utcoffset() == timedelta(0) or isinstance(value, str)


def test_an_iso_timestamp_keeps_its_own_offset():
    got = importing._timestamp("2024-01-02T03:04:05+02:00", datetime(2001, 1, 1, tzinfo=UTC))
    assert got.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (5, "Not a conversation (expected a JSON object)."),
        ([], "Not a conversation (expected a JSON object)."),
        ({"id": "x"}, "Not a conversation: it has neither 'mapping' nor 'messages'."),
        (gpt(mapping=[]), "'mapping' is not an object."),
        (gpt(mapping={"n1": 5}), "Node 'n1' is not an object."),
        (gpt(conversation_id=None), "The conversation has no id."),
        (gpt(conversation_id=5), "The conversation has no id."),
        (gpt(conversation_id="   "), "The conversation has no id."),
        (gpt(conversation_id="x" * 256), "The conversation has no id."),
        (gpt(title=5), "The title is not text."),
        (gpt(title="bell \x07"), "The title contains control characters."),
        (
            gpt(nodes=[gpt_node("u", None, "user", "nul \x00")]),
            "A message contains control characters.",
        ),
        (own(messages=5), "'messages' is not a list."),
        (own(messages=[5]), "A message is not an object."),
        (own(messages=[{"role": "user", "content": 5}]), "A message is not text."),
        (own(session_id=None), "The conversation has no id."),
    ],
)
def test_each_conversation_that_cannot_be_imported_says_why(item, reason):
    assert skip_reason(item) == reason


def test_an_id_may_be_255_characters_kept_as_written():
    assert importing._parse(gpt(conversation_id="x" * 255)).source_id == "x" * 255
    assert importing._parse(gpt(conversation_id=" id ")).source_id == " id "
    assert importing._parse(own(session_id="y" * 255)).source_id == "y" * 255
    # ChatGPT's conversation_id, else its id.
    assert importing._parse(gpt(conversation_id=None, id="other")).source_id == "other"
    assert importing._parse(gpt(conversation_id="", id="other")).source_id == "other"
    assert importing._parse(gpt(conversation_id="first", id="other")).source_id == "first"


def test_a_title_is_one_line_of_at_most_255_characters():
    assert importing._parse(gpt(title=None)).title == ""
    assert importing._parse(gpt(title="  Two \n\t words  ")).title == "Two words"
    assert importing._parse(gpt(title="t" * 256)).title == "t" * 255
    assert importing._parse(own(title="o" * 255)).title == "o" * 255
    assert "title" not in own() or importing._parse({**own(), "title": None}).title == ""


def test_a_message_may_be_100000_characters():
    ok = [gpt_node("u", None, "user", "x" * 100_000, T0 + 1)]
    assert len(importing._parse(gpt(nodes=ok)).messages[0].content) == 100_000
    second = [
        gpt_node("u", None, "user", "short", T0 + 1),
        gpt_node("a", "u", "assistant", "x" * 100_001, T0 + 2),
    ]
    assert skip_reason(gpt(nodes=second)) == "Message 2 is longer than 100000 characters."


def test_a_conversation_may_hold_as_many_messages_as_the_limit(monkeypatch):
    monkeypatch.setattr(importing, "MESSAGES_MAX", 3)
    chain = [gpt_node(f"n{i}", f"n{i - 1}" if i else None, "user", "m", T0 + i) for i in range(3)]
    assert len(importing._parse(gpt(nodes=chain)).messages) == 3
    chain.append(gpt_node("last", "n2", "user", "m", T0 + 3))
    assert skip_reason(gpt(nodes=chain)) == "More than 3 messages."
    many = [{"role": "user", "content": "m"}] * 3
    assert len(importing._parse(own(messages=many)).messages) == 3
    # Refused before reading any: left out or not, they count.
    hidden = [*many, {"role": "user", "hidden": True}]
    assert skip_reason(own(messages=hidden)) == "More than 3 messages."


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ({"content_type": "text", "parts": ["one", {"image": 1}, "two"]}, "one\ntwo"),
        ({"content_type": "multimodal_text", "parts": [{"asset": 1}, "caption"]}, "caption"),
        ({"content_type": "text", "parts": "not a list"}, None),
        ({"content_type": "code", "text": "x = 1"}, "```\nx = 1\n```"),
        ({"content_type": "code", "text": 5}, None),
        ({"content_type": "tether_quote", "text": "quoted"}, None),
        ("just text", None),
        (None, None),
    ],
)
def test_chatgpt_content_kinds(content, text):
    node = gpt_node("a", None, "assistant", "", T0 + 1)
    node["message"]["content"] = content
    parsed = importing._parse(gpt(nodes=[node]))
    assert [n.content for n in parsed.messages] == ([text] if text else [])


def test_chatgpt_fields_of_a_conversation_and_its_messages():
    nodes = [
        {"id": "root", "parent": None, "message": None},
        gpt_node("u", "root", "user", "question", T0 + 1),
        gpt_node("a", "u", "assistant", "answer", T0 + 2, model_slug="gpt-4o"),
        gpt_node("b", "u", "assistant", "other", None, model_slug=""),
        gpt_node("c", "u", "assistant", "third", T0 + 4, model_slug=5),
        gpt_node("d", "u", "assistant", "long slug", T0 + 5, model_slug="s" * 200),
    ]
    nodes[2]["message"]["metadata"]["is_visually_hidden_from_conversation"] = False
    item = gpt(nodes=nodes, update_time=T0 + 50, current_node="c")

    parsed = importing._parse(item)

    assert (parsed.source, parsed.source_id, parsed.title) == ("chatgpt", "c-1", "A title")
    assert (parsed.created_at, parsed.updated_at, parsed.current) == (at(T0), at(T0 + 50), "c")
    # b has no time: the conversation's, older than its parent, so first among u's answers.
    assert [
        (n.key, n.parent, n.role, n.content, n.model, n.created_at) for n in parsed.messages
    ] == [
        ("u", None, "user", "question", "", at(T0 + 1)),
        ("b", "u", "assistant", "other", "imported", at(T0)),
        ("a", "u", "assistant", "answer", "imported:gpt-4o", at(T0 + 2)),
        ("c", "u", "assistant", "third", "imported", at(T0 + 4)),
        ("d", "u", "assistant", "long slug", ("imported:" + "s" * 200)[:100], at(T0 + 5)),
    ]
    assert len(parsed.messages[-1].model) == 100


def test_chatgpt_times_default_to_the_conversations_then_to_now():
    before = django_timezone.now()
    item = gpt(nodes=[gpt_node("u", None, "user", "q")])
    del item["create_time"]

    parsed = importing._parse(item)

    assert before <= parsed.created_at <= django_timezone.now()
    assert parsed.updated_at == parsed.created_at == parsed.messages[0].created_at


def test_chatgpt_leaves_out_hidden_system_tool_unauthored_and_empty_messages_and_lifts_children():
    nodes = [
        gpt_node("s", None, "system", "system prompt", T0),
        gpt_node("u", "s", "user", "question", T0 + 1),
        gpt_node("t1", "u", "tool", "tool call", T0 + 2),
        gpt_node("h", "t1", "user", "hidden", T0 + 3, is_visually_hidden_from_conversation=True),
        gpt_node("e", "h", "assistant", "  \n ", T0 + 4),
        gpt_node("a", "e", "assistant", "answer", T0 + 5),
        {
            "id": "x",
            "parent": "a",
            "message": {"content": {"content_type": "text", "parts": ["x"]}},
        },
        {"id": "y", "parent": "x", "message": {"author": "user", "content": "y"}},
        gpt_node("q", "y", "user", "next", T0 + 6),
        gpt_node("odd", 5, "user", "parent not text", T0 + 7),
        gpt_node("odder", ["a"], "user", "parent a list", T0 + 8),
    ]
    nodes[2]["message"]["metadata"] = "not an object"

    parsed = importing._parse(gpt(nodes=nodes, current_node="h"))

    assert shape(parsed) == [
        ("u", None, "user", "question"),
        ("a", "u", "assistant", "answer"),
        ("q", "a", "user", "next"),
        ("odd", None, "user", "parent not text"),
        ("odder", None, "user", "parent a list"),
    ]
    assert parsed.current == "u"  # the hidden current node's nearest kept ancestor


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("a2", "a2"),
        ("gone", "q2"),
        (None, "q2"),
        (5, "q2"),
        (["a2"], "q2"),
        ("t", "a1"),
        ("loop1", "q2"),
    ],
)
def test_chatgpt_current_node(current, expected):
    nodes = [
        gpt_node("q1", None, "user", "q1", T0 + 1),
        gpt_node("a1", "q1", "assistant", "a1", T0 + 2),
        gpt_node("a2", "q1", "assistant", "a2", T0 + 3),
        gpt_node("t", "a1", "tool", "tool", T0 + 4),
        gpt_node("q2", "t", "user", "q2", T0 + 5),
        # Two kept messages each other's parent: no root reaches them.
        gpt_node("loop1", "loop2", "user", "l1", T0 + 6),
        gpt_node("loop2", "loop1", "assistant", "l2", T0 + 7),
    ]
    parsed = importing._parse(gpt(nodes=nodes, current_node=current))
    assert [n.key for n in parsed.messages] == ["q1", "a1", "a2", "q2"]
    assert parsed.current == expected


def test_a_kept_message_under_a_loop_of_left_out_ones_becomes_a_first_message():
    nodes = [
        gpt_node("t1", "t2", "tool", "t1", T0),
        gpt_node("t2", "t1", "tool", "t2", T0),
        gpt_node("u", "t1", "user", "under the loop", T0 + 1),
    ]
    assert shape(importing._parse(gpt(nodes=nodes))) == [("u", None, "user", "under the loop")]


def test_a_tree_is_parents_first_then_oldest_first_then_in_file_order():
    nodes = [
        gpt_node("A", None, "user", "A", T0 + 10),
        gpt_node("B", None, "user", "B", T0 + 10),
        # Older than its parent: still after it, and after B, its parent's equal.
        gpt_node("C", "A", "assistant", "C", T0 + 5),
        # Two answers of the same second: in the file's order.
        gpt_node("D2", "B", "assistant", "D2", T0 + 20),
        gpt_node("D1", "B", "assistant", "D1", T0 + 20),
        gpt_node("E", "D1", "user", "E", T0 + 15),
        gpt_node("F", None, "user", "F", T0 + 19),
    ]
    parsed = importing._parse(gpt(nodes=nodes))
    assert [n.key for n in parsed.messages] == ["A", "B", "C", "F", "D2", "D1", "E"]
    assert parsed.current == "E"


def test_an_empty_conversation_has_no_messages_and_no_current_one():
    parsed = importing._parse(gpt(nodes=[gpt_node("s", None, "system", "only", T0)]))
    assert (parsed.messages, parsed.current) == ([], None)


def test_own_export_fields_branches_and_ids():
    messages = [
        {"messageId": "m1", "role": "user", "content": "q1", "createdAt": "2024-01-01T00:00:01Z"},
        {"messageId": "m2", "parentId": "m1", "role": "assistant", "content": "a1"},
        {"messageId": "m3", "parentId": "m1", "role": "assistant", "content": "a1b"},
        {"messageId": "m4", "role": "user", "content": "after m3"},  # no parentId: previous
        {"messageId": "m5", "parentId": None, "role": "user", "content": "new root"},
        {"messageId": "m1", "role": "assistant", "content": "duplicate id"},
        {"messageId": 7, "role": "user", "content": "numeric id"},
        {"role": "assistant", "content": "no id", "parentId": "m1"},
        {"messageId": "m9", "parentId": None, "role": "user", "hidden": True, "content": ""},
        {"messageId": "m10", "parentId": "m9", "role": "assistant", "content": "under hidden"},
        {"messageId": "m11", "role": "system", "content": "system"},
        {"messageId": "m12", "role": "user"},
        {"messageId": "m13", "parentId": "m11", "role": "user", "content": "under system"},
        {"messageId": "m14", "parentId": ["m1"], "role": "user", "content": "parent a list"},
    ]
    item = own(
        messages=messages,
        createdAt="2024-01-01T00:00:00Z",
        updatedAt="2024-02-01T00:00:00Z",
        currentMessageId="m4",
    )

    parsed = importing._parse(item)

    created = datetime(2024, 1, 1, tzinfo=UTC)
    assert (parsed.source, parsed.source_id, parsed.title) == ("chatbot", "s-1", "Own")
    assert (parsed.created_at, parsed.updated_at) == (created, datetime(2024, 2, 1, tzinfo=UTC))
    assert parsed.current == "m4"
    assert {(n.key, n.parent, n.role, n.content, n.model) for n in parsed.messages} == {
        ("m1", None, "user", "q1", ""),
        ("m2", "m1", "assistant", "a1", "imported"),
        ("m3", "m1", "assistant", "a1b", "imported"),
        ("m4", "m3", "user", "after m3", ""),
        ("m5", None, "user", "new root", ""),
        ("#5", "m5", "assistant", "duplicate id", "imported"),
        ("#6", "#5", "user", "numeric id", ""),
        ("#7", "#6", "assistant", "no id", "imported"),
        ("m10", None, "assistant", "under hidden", "imported"),
        ("m13", "m10", "user", "under system", ""),
        ("m14", None, "user", "parent a list", ""),
    }
    times = {n.key: n.created_at for n in parsed.messages}
    assert times["m1"] == created + timedelta(seconds=1) and times["m2"] == created


def test_own_export_an_empty_message_id_is_an_id_like_any_other():
    messages = [
        {"messageId": "", "role": "user", "content": "q"},
        {"messageId": "a", "parentId": "", "role": "assistant", "content": "a"},
    ]
    parsed = importing._parse(own(messages=messages, currentMessageId="a"))
    assert shape(parsed) == [("", None, "user", "q"), ("a", "", "assistant", "a")]
    assert parsed.current == "a"


def test_own_export_without_times_uses_now_and_without_current_the_newest_leaf():
    before = django_timezone.now()
    parsed = importing._parse(own(messages=[{"role": "user", "content": "q"}]))
    assert before <= parsed.created_at == parsed.updated_at <= django_timezone.now()
    assert parsed.current == "#0" and parsed.messages[0].created_at == parsed.created_at


# --- The file: JSON, zip, limits ----------------------------------------------------------


@pytest.mark.django_db
def test_the_import_reads_from_the_start_whatever_was_read_before(user):
    for raw in (json.dumps([gpt("c-1")]).encode(), zipped({"conversations.json": b"[]"})):
        upload = io.BytesIO(raw)
        upload.seek(len(raw))
        importing.import_conversations(user=user, upload=upload)
    assert ChatSession.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_the_zips_conversations_json_nearest_the_top_is_read(user):
    data = zipped(
        {
            "deep/down/conversations.json": json.dumps([gpt("deep")]).encode(),
            "export/conversations.json": json.dumps([gpt("top")]).encode(),
            "export/other-conversations.json": json.dumps([gpt("other")]).encode(),
            "conversations.json.bak": b"not json",
        }
    )
    assert run_import(user, data).imported == 1
    assert list(ImportedConversation.objects.values_list("source_id", flat=True)) == ["top"]


@pytest.mark.django_db
def test_a_zips_only_conversations_json_is_read_however_deep(user):
    data = zipped({"a/b/conversations.json": json.dumps([gpt("deep")]).encode()})
    assert run_import(user, data).imported == 1
    assert list(ImportedConversation.objects.values_list("source_id", flat=True)) == ["deep"]


@pytest.mark.django_db
def test_a_zip_without_conversations_json_or_broken_says_so(user):
    assert bad_import(user, zipped({"chat.html": b"<p>"})) == (
        "The zip file has no conversations.json."
    )
    detail = bad_import(user, b"PK\x03\x04broken")
    assert detail.startswith("The zip file cannot be read: ") and detail.endswith(".")
    assert not ChatSession.objects.exists()


@pytest.mark.django_db
def test_unzipped_conversations_json_is_capped(user, monkeypatch):
    raw = json.dumps([gpt("c-1")]).encode()
    monkeypatch.setattr(importing, "UNZIPPED_MAX_BYTES", len(raw))
    assert run_import(user, zipped({"conversations.json": raw})).imported == 1

    monkeypatch.setattr(importing, "UNZIPPED_MAX_BYTES", len(raw) - 1)
    raw = json.dumps([gpt("c-2")]).encode()
    assert bad_import(user, zipped({"conversations.json": raw})) == (
        "conversations.json is too large once unzipped."
    )
    assert ChatSession.objects.count() == 1


def test_a_capped_member_is_a_readable_file_of_at_most_its_limit():
    assert importing._Capped(io.BytesIO(b"abcdef"), 6).read() == b"abcdef"
    capped = importing._Capped(io.BytesIO(b"abcdef"), 6)
    assert capped.readable() is True
    assert (capped.read(4), capped.read(4), capped.read()) == (b"abcd", b"ef", b"")
    over = importing._Capped(io.BytesIO(b"abcdef"), 5)
    assert over.read(5) == b"abcde"
    with pytest.raises(BadImport) as caught:
        over.read(5)
    assert caught.value.detail == "conversations.json is too large once unzipped."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"  5", "Expected a JSON array or object, at character 2."),
        (b"", "Expected a JSON array or object, at character 0."),
        (b"[] []", "Unexpected text after the JSON, at character 3."),
        (b'{"a": 1} x', "Unexpected text after the JSON, at character 9."),
        (b"[1,]", "The file is cut short or not valid JSON (Expecting value), at character 3."),
    ],
)
def test_a_file_that_is_not_an_export_says_what_and_where(user, raw, detail):
    assert bad_import(user, raw) == detail


@pytest.mark.django_db
def test_an_object_export_yields_its_conversations_or_is_one(user):
    account = {
        "user": {"username": "u"},
        "conversations": [own("a", [{"role": "user", "content": "q"}]), own("b")],
        "files": [],
    }
    assert run_import(user, account).imported == 2
    assert run_import(user, own("c", [{"role": "user", "content": "q"}])).imported == 1
    # "conversations" that is not a list: nothing to import, and not one conversation.
    assert vars(run_import(user, {"conversations": 5, "messages": []})) == {
        "imported": 0,
        "skipped": 0,
        "errors": [],
    }
    assert sorted(ImportedConversation.objects.values_list("source_id", flat=True)) == [
        "a",
        "b",
        "c",
    ]


# --- Storing -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_errors_are_listed_up_to_100_and_every_skip_counted(user):
    items = [5] * 101 + [gpt("ok"), gpt("ok")]

    result = run_import(user, items)

    assert (result.imported, result.skipped) == (1, 102)
    assert result.errors == [
        {"index": index, "detail": "Not a conversation (expected a JSON object)."}
        for index in range(100)
    ]


@pytest.mark.django_db
def test_a_conversation_is_imported_once_per_user_and_source(user, other_user):
    run_import(other_user, [gpt("c-1"), own("c-1")])

    first = run_import(user, [gpt("c-1"), own("c-1"), gpt("c-1")])
    again = run_import(user, [gpt("c-1"), own("c-2")])

    assert vars(first) == {"imported": 2, "skipped": 1, "errors": []}
    assert vars(again) == {"imported": 1, "skipped": 1, "errors": []}
    assert ChatSession.objects.filter(user=user).count() == 3
    assert ChatSession.objects.filter(user=other_user).count() == 2


@pytest.mark.django_db
def test_a_stored_conversation_has_every_field_and_new_ids(user, bystanders):
    messages = [
        {"messageId": str(uuid.uuid4()), "role": "user", "content": "Héllo 🚀 there"},
        {"messageId": "a", "role": "assistant", "content": "general kenobi", "createdAt": 5},
        {"messageId": "b", "parentId": None, "role": "user", "content": "edited"},
    ]
    item = own(
        "s-9",
        messages,
        title="Stored",
        createdAt="2024-03-01T10:00:00+00:00",
        updatedAt="2024-03-02T10:00:00+00:00",
        currentMessageId="a",
    )

    assert run_import(user, [item]).imported == 1

    session = ChatSession.objects.get(user=user)
    assert (session.title, session.model) == ("Stored", "")
    assert session.created_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert session.updated_at == datetime(2024, 3, 2, 10, tzinfo=UTC)
    source = ImportedConversation.objects.get()
    assert (source.user, source.session, source.source, source.source_id) == (
        user,
        session,
        "chatbot",
        "s-9",
    )
    rows = list(session.messages.order_by("sequence"))
    assert [
        (m.sequence, m.role, m.content, m.token_count, m.model, m.status, m.created_at)
        for m in rows
    ] == [
        (1, "user", "Héllo 🚀 there", count_tokens("Héllo 🚀 there"), "", "complete",
         datetime(2024, 3, 1, 10, tzinfo=UTC)),
        # Both first messages of the same time, in the file's order; the answer, older
        # than its question, after it.
        (2, "user", "edited", 1, "", "complete", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        (3, "assistant", "general kenobi", count_tokens("general kenobi"), "imported",
         "complete", at(5)),
    ]  # fmt: skip
    assert all(m.updated_at == m.created_at for m in rows)
    assert [m.parent_id for m in rows] == [None, None, rows[0].pk]
    assert str(rows[0].pk) != messages[0]["messageId"]
    assert session.current_message_id == rows[2].pk
    assert bystanders.unchanged()


@pytest.mark.django_db
def test_an_empty_conversation_is_stored_without_a_current_message(user):
    assert run_import(user, [gpt("empty")]).imported == 1
    session = ChatSession.objects.get(user=user)
    assert (session.messages.count(), session.current_message_id) == (0, None)


@pytest.mark.django_db
def test_a_bad_file_after_good_conversations_stores_nothing(user):
    raw = json.dumps([own("a", [{"role": "user", "content": "q"}]), gpt("b")]).encode()
    assert bad_import(user, raw[:-3]).startswith("The file is cut short")
    assert not ChatSession.objects.exists() and not Message.objects.exists()
    assert not ImportedConversation.objects.exists()


def test_a_time_zone_aware_default_is_kept():
    default = datetime(2001, 1, 1, tzinfo=timezone(timedelta(hours=3)))
    assert importing._timestamp("nope", default) is default


@pytest.mark.django_db
def test_the_messages_are_written_in_batches_of_500(user, monkeypatch):
    batches = []
    store_as_tree = importing.conversation_services.store_as_tree

    def recording(**kwargs):
        batches.append((len(kwargs["messages"]), kwargs["batch_size"]))
        store_as_tree(**kwargs)

    monkeypatch.setattr(importing.conversation_services, "store_as_tree", recording)
    messages = [{"role": "user", "content": f"m{i}"} for i in range(3)]

    assert run_import(user, [own("a", messages), own("b")]).imported == 2

    assert batches == [(3, 500), (0, 500)]
    assert ChatSession.objects.get(import_source__source_id="a").messages.count() == 3


@pytest.mark.django_db
def test_the_current_message_stored_is_the_files_not_the_last_one(user):
    messages = [
        {"messageId": "q", "role": "user", "content": "question"},
        {"messageId": "a1", "parentId": "q", "role": "assistant", "content": "first answer"},
        {"messageId": "a2", "parentId": "q", "role": "assistant", "content": "second answer"},
    ]
    assert run_import(user, [own("s", messages, currentMessageId="a1")]).imported == 1

    session = ChatSession.objects.get(user=user)
    assert [m.content for m in session.messages.order_by("sequence")] == [
        "question",
        "first answer",
        "second answer",
    ]
    assert session.current_message.content == "first answer"
