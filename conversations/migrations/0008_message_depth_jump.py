import django.db.models.deletion
from django.db import migrations, models

BATCH = 1000
SESSIONS_PER_READ = 200


def jump_depth(depth):
    """conversations.models.jump_depth, as of this migration."""
    if depth == 0:
        return None
    rest = depth
    while True:
        term = (1 << ((rest + 1).bit_length() - 1)) - 1
        if term == rest:
            return depth - term
        rest -= term


def place_stored_messages(apps, schema_editor):
    """Give every stored message its depth and jump (a parent was created before its
    children, so in sequence order it comes first), reading a few hundred conversations at
    a time and writing back in batches."""
    ChatSession = apps.get_model("conversations", "ChatSession")
    Message = apps.get_model("conversations", "Message")
    db = schema_editor.connection.alias
    sessions = list(ChatSession.objects.using(db).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(sessions), SESSIONS_PER_READ):
        rows = (
            Message.objects.using(db)
            .filter(session_id__in=sessions[start : start + SESSIONS_PER_READ])
            .order_by("session_id", "sequence")
            .values_list("id", "parent_id")
        )
        places, changed = {}, []
        for pk, parent_id in rows:
            if parent_id is None:
                depth, jump_id = 0, None
            else:
                parent_depth, parent_jump = places[parent_id]
                depth = parent_depth + 1
                skip = jump_depth(depth) != parent_depth
                jump_id = places[parent_jump][1] if skip else parent_id
            places[pk] = (depth, jump_id)
            changed.append(Message(id=pk, depth=depth, jump_id=jump_id))
        Message.objects.using(db).bulk_update(changed, ["depth", "jump"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0007_message_tree"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="depth",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Messages above this one on its branch: 0 for a conversation's first.",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="message",
            name="jump",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                help_text="An ancestor further up (its depth a function of this one's): none "
                "for a conversation's first message.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="conversations.message",
            ),
        ),
        migrations.RunPython(place_stored_messages, migrations.RunPython.noop, elidable=False),
    ]
