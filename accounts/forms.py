"""Forms of the account settings page."""

from __future__ import annotations

from typing import cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import CUSTOM_INSTRUCTIONS_MAX_CHARS, User


class InstructionsForm(forms.ModelForm):
    """The user's custom instructions, added to the system prompt of every conversation."""

    class Meta:
        model = User
        fields = ["custom_instructions"]
        labels = {"custom_instructions": _("Custom instructions")}
        widgets = {
            "custom_instructions": forms.Textarea(
                attrs={"rows": 5, "maxlength": CUSTOM_INSTRUCTIONS_MAX_CHARS}
            )
        }


class PreferencesForm(forms.ModelForm):
    """How the app looks to the user: its theme and language."""

    class Meta:
        model = User
        fields = ["theme", "language"]
        labels = {"theme": _("Theme"), "language": _("Language")}
        widgets = {"theme": forms.RadioSelect}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        language = cast(forms.ChoiceField, self.fields["language"])
        language.choices = [("", _("Same as the browser")), *settings.LANGUAGES]
        language.help_text = ""  # "Same as the browser" says it


class DeleteAccountForm(forms.Form):
    """Deleting an account is confirmed with the account's password."""

    password = forms.CharField(
        label=_("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."))
        return password
