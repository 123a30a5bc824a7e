"""``attachments.storage.file_storage``: the ``attachments`` storage of the settings in force
when it is called, not one fixed at import."""

from __future__ import annotations

import copy

from django.core.files.storage import FileSystemStorage, storages

from attachments.storage import file_storage


def test_the_files_storage_is_the_attachments_one_of_the_settings(file_storage_dir):
    storage = file_storage()

    assert storage is storages["attachments"]
    assert isinstance(storage, FileSystemStorage)
    assert storage.location == str(file_storage_dir)
    assert storage is not storages["default"]


def test_changed_settings_give_another_storage(settings, tmp_path):
    before = file_storage()
    changed = copy.deepcopy(settings.STORAGES)
    changed["attachments"]["OPTIONS"] = {"location": tmp_path / "elsewhere"}
    settings.STORAGES = changed

    after = file_storage()

    assert after is not before
    assert after.location == str(tmp_path / "elsewhere")
