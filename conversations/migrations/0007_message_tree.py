import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def link_single_branch(apps, schema_editor):
    """Every existing conversation becomes one branch: each message follows the one before
    it, and the last is the current leaf. Two UPDATEs, whatever the number of rows."""
    ChatSession = apps.get_model("conversations", "ChatSession")
    Message = apps.get_model("conversations", "Message")
    db = schema_editor.connection.alias
    previous = (
        Message.objects.using(db)
        .filter(session_id=OuterRef("session_id"), sequence__lt=OuterRef("sequence"))
        .order_by("-sequence")
        .values("id")[:1]
    )
    Message.objects.using(db).update(parent_id=Subquery(previous))
    last = Message.objects.using(db).filter(session_id=OuterRef("pk")).order_by("-sequence")
    ChatSession.objects.using(db).update(current_message_id=Subquery(last.values("id")[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_session_organize"),
    ]

    operations = [
        migrations.AddField(
            model_name="chatsession",
            name="current_message",
            field=models.ForeignKey(
                blank=True,
                help_text="The current leaf: the branch shown and continued.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="conversations.message",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                help_text="The message this one follows; none for a conversation's first message.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="children",
                to="conversations.message",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="sequence",
            field=models.PositiveIntegerField(
                help_text="Creation order within the session, never renumbered."
            ),
        ),
        migrations.RunPython(link_single_branch, migrations.RunPython.noop, elidable=False),
    ]
