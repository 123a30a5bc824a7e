"""The "Moderators" group: read conversations, hide and flag messages, suspend users."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODERATORS = "Moderators"
MODERATOR_PERMISSIONS = [
    ("conversations", "chatsession", "view_chatsession"),
    ("conversations", "message", "view_message"),
    ("conversations", "message", "hide_message"),
    ("conversations", "message", "flag_message"),
    ("accounts", "user", "view_user"),
    ("accounts", "user", "suspend_user"),
]


def create_moderators(apps, schema_editor):
    # Permissions are normally created after all migrations ran (post_migrate); on a fresh
    # database they do not exist yet, so create them now. Historical app configs have no
    # models module, which create_permissions takes as "nothing to do": lend them one.
    for label in ("conversations", "accounts"):
        app_config = apps.get_app_config(label)
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=MODERATORS)
    group.permissions.set(
        [
            Permission.objects.get(
                content_type__app_label=app_label,
                content_type__model=model,
                codename=codename,
            )
            for app_label, model, codename in MODERATOR_PERMISSIONS
        ]
    )


def delete_moderators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=MODERATORS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0002_moderation_permissions"),
        ("conversations", "0002_moderation_permissions"),
    ]

    operations = [migrations.RunPython(create_moderators, delete_moderators)]
