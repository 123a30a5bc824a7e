"""Moderators see stored files and which message has each (admin's thumbnails)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODERATOR_PERMISSIONS = [
    ("storedfile", "view_storedfile"),
    ("messageattachment", "view_messageattachment"),
]


def grant(apps, schema_editor):
    # As conversations.0003: permissions do not exist yet on a fresh database.
    app_config = apps.get_app_config("attachments")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True
    try:
        create_permissions(app_config, apps=apps, verbosity=0)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Moderators")
    group.permissions.add(
        *[
            Permission.objects.get(
                content_type__app_label="attachments",
                content_type__model=model,
                codename=codename,
            )
            for model, codename in MODERATOR_PERMISSIONS
        ]
    )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name="Moderators"):
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="attachments",
                codename__in=[codename for _, codename in MODERATOR_PERMISSIONS],
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("attachments", "0002_message_attachment"),
        ("conversations", "0003_moderators_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
