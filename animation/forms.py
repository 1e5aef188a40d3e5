"""Admin forms. They only validate and show errors; storing goes through animation.services."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from animation import glb
from animation.models import AnimationPreset, Avatar, VisemeMapping
from animation.services import MAX_IMPORT_BYTES
from animation.validation import ValidationIssue, validate_preset
from animation.visemes import validate_mapping

# The form fields of a preset, in the order of the preset JSON.
PRESET_FIELDS = ("name", "emotion", "loop", "duration", "interpolation", "description", "tracks")
_MONOSPACE = {"style": "font-family: monospace; width: 100%;", "spellcheck": "false"}


class PrettyJSONField(forms.JSONField):
    """JSON in a textarea, indented so that keyframe tracks can be read and edited."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what the user typed, so that the error can be fixed in place
        return json.dumps(value, ensure_ascii=False, indent=2)


def _issue_field(issue: ValidationIssue) -> str:
    """The form field an issue path belongs to: "tracks[2].values[7]" -> "tracks"."""
    head = issue.path.split(".", 1)[0].split("[", 1)[0]
    return head if head in PRESET_FIELDS else ""


class AnimationPresetForm(forms.ModelForm):  # type: ignore[type-arg]
    tracks = PrettyJSONField(
        label="Дорожки (JSON)",
        widget=forms.Textarea(attrs={"rows": 24, **_MONOSPACE}),
        help_text=(
            'Список дорожек: {"target": "bone"|"morph", "name", "property": "rotation"|"position"|"influence", '
            '"times": [...], "values": [...]}. Углы в радианах, морфы 0..1.'
        ),
    )

    class Meta:
        model = AnimationPreset
        fields = PRESET_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # On a change page the name is read-only (not a form field): the preset's identity.
        self.preset_name: str | None = None if self.instance.pk is None else self.instance.name
        # validate_preset's own issues (paths and codes) from the last clean(), for the preview.
        self.preset_issues: list[ValidationIssue] = []

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        # Adding under an existing name would silently become a new version of another
        # preset; editing that preset is the way to do that.
        if self.instance.pk is None and AnimationPreset.objects.filter(name=name).exists():
            raise forms.ValidationError(
                "Пресет с таким именем уже есть: откройте его, чтобы сохранить новую версию."
            )
        return name

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        data = self.preset_data()
        if data is None:
            return cleaned  # a field already has its own error (e.g. the tracks are not JSON)
        self.preset_issues = validate_preset(data)
        for issue in self.preset_issues:
            field = _issue_field(issue)
            message = str(issue) if field == "tracks" else issue.message
            if field and field in self.fields:
                self.add_error(field, message)
            else:
                self.add_error(None, str(issue))
        return cleaned

    def preset_data(self) -> dict[str, Any] | None:
        """The preset JSON of the submitted form, or None while a field is invalid."""
        data: dict[str, Any] = {}
        for name in PRESET_FIELDS:
            if name == "name" and self.preset_name is not None:
                data[name] = self.preset_name
            elif name in self.cleaned_data:
                data[name] = self.cleaned_data[name]
            else:
                return None
        data["description"] = data["description"] or ""
        return data


class PresetImportForm(forms.Form):
    file = forms.FileField(
        label="Файл JSON",
        help_text=f"Один пресет (объект) или список пресетов, до {MAX_IMPORT_BYTES // 1024} КБ.",
    )

    def clean_file(self) -> bytes:
        upload: UploadedFile = self.cleaned_data["file"]
        if not (upload.name or "").lower().endswith(".json"):
            raise forms.ValidationError("Нужен файл .json.")
        if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(f"Файл больше {MAX_IMPORT_BYTES // 1024} КБ.")
        content: bytes = upload.read(MAX_IMPORT_BYTES + 1)
        return content


class AvatarForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Avatar
        fields = ("name", "glb", "viseme_mapping")
        help_texts = {
            "glb": (
                f"Бинарный glTF (.glb) до {glb.MAX_GLB_BYTES // (1024 * 1024)} МБ с морфами ARKit "
                "(jawOpen, mouthFunnel, …) или визем Oculus (viseme_aa, viseme_PP, …)."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.glb_content: bytes | None = None

    def clean_glb(self) -> Any:
        upload = self.cleaned_data.get("glb")
        if not isinstance(upload, UploadedFile):
            return upload  # unchanged on a change page
        if upload.size is not None and upload.size > glb.MAX_GLB_BYTES:
            raise forms.ValidationError(f"Файл больше {glb.MAX_GLB_BYTES // (1024 * 1024)} МБ.")
        content = upload.read(glb.MAX_GLB_BYTES + 1)
        try:
            glb.inspect_glb(content)
        except glb.GlbInvalid as exc:
            raise forms.ValidationError(exc.message) from None
        self.glb_content = content
        return upload


class VisemeMappingForm(forms.ModelForm):  # type: ignore[type-arg]
    mapping = PrettyJSONField(
        label="Таблица",
        widget=forms.Textarea(attrs={"rows": 20, **_MONOSPACE}),
        help_text='Форма рта (A–H, X) → {имя морфа: вес 0..1}, например {"A": {"mouth_A": 1.0}, …}.',
    )

    class Meta:
        model = VisemeMapping
        # The default is chosen with an admin action (services.make_default_mapping), so
        # that handing it over is one step, never a constraint error on the form.
        fields = ("name", "mapping", "description")

    def clean_mapping(self) -> Any:
        mapping = self.cleaned_data["mapping"]
        issues: Sequence[ValidationIssue] = validate_mapping(mapping)
        if issues:
            raise forms.ValidationError([issue.message for issue in issues])
        return mapping
