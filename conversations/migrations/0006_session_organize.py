from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_message_reply_usage"),
    ]

    operations = [
        migrations.AddField(
            model_name="chatsession",
            name="pinned",
            field=models.BooleanField(default=False, help_text="Listed before the others."),
        ),
        migrations.AddField(
            model_name="chatsession",
            name="archived",
            field=models.BooleanField(
                default=False, help_text="Left out of the list; still searchable."
            ),
        ),
    ]
