"""Stored keyframe presets. Rows are immutable versions: editing a preset means creating
the next version through ``animation.services.create_preset_version`` (never ``save()`` on
an existing row), so a motion plan that names (preset, version) can always be replayed.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Max, OuterRef, Subquery

from synthesis.interfaces import EMOTIONS

# Labels for the admin; the keys must stay equal to synthesis.interfaces.EMOTIONS.
EMOTION_LABELS: dict[str, str] = {
    "happy": "радость",
    "sad": "грусть",
    "neutral": "нейтрально",
    "thinking": "задумчивость",
}
EMOTION_CHOICES: list[tuple[str, str]] = [(emotion, EMOTION_LABELS[emotion]) for emotion in EMOTIONS]
INTERPOLATION_CHOICES: list[tuple[str, str]] = [("smooth", "плавная"), ("linear", "линейная")]


class AnimationPresetQuerySet(models.QuerySet["AnimationPreset"]):
    def latest_version(self, name: str) -> AnimationPreset | None:
        """The newest version of one preset, or None if no version exists."""
        return self.filter(name=name).order_by("-version").first()

    def latest_versions(self) -> AnimationPresetQuerySet:
        """The newest version of every preset (one row per name)."""
        newest = (
            self.model.objects.filter(name=OuterRef("name"))
            .values("name")
            .annotate(top=Max("version"))
            .values("top")
        )
        return self.filter(version=Subquery(newest))


class AnimationPreset(models.Model):
    name = models.SlugField("имя", max_length=64)
    version = models.PositiveIntegerField("версия")
    emotion = models.CharField(
        "эмоция", max_length=16, choices=EMOTION_CHOICES, null=True, blank=True,
        help_text="Эмоция, которую выражает пресет; пусто для действий (кивок, взмах).",
    )
    loop = models.BooleanField("зациклен", default=False)
    duration = models.FloatField("длительность, с")
    interpolation = models.CharField(
        "интерполяция", max_length=8, choices=INTERPOLATION_CHOICES, default="smooth"
    )
    tracks = models.JSONField("дорожки", default=list)
    description = models.TextField("описание", blank=True)
    created_at = models.DateTimeField("создан", auto_now_add=True)

    objects = AnimationPresetQuerySet.as_manager()

    class Meta:
        verbose_name = "пресет анимации"
        verbose_name_plural = "пресеты анимации"
        ordering = ("name", "-version")
        constraints = [
            models.UniqueConstraint(fields=("name", "version"), name="animation_preset_name_version"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="animation_preset_version_gte_1"),
            models.CheckConstraint(condition=models.Q(duration__gt=0), name="animation_preset_duration_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def to_data(self) -> dict[str, Any]:
        """This version in the preset JSON format (what validation and motion consume)."""
        return {
            "name": self.name,
            "version": self.version,
            "emotion": self.emotion,
            "loop": self.loop,
            "duration": self.duration,
            "interpolation": self.interpolation,
            "description": self.description,
            "tracks": self.tracks,
        }


class VisemeMapping(models.Model):
    """Which of an avatar's morph targets, at what weight, make each mouth shape.

    Data rather than code so that an avatar with other morph names (ARKit, Oculus
    visemes) can be made to speak from the admin. Validated by
    ``animation.visemes.validate_mapping``; edited in place (cues name shapes, not
    morphs, so a replay stays correct after an edit).
    """

    name = models.SlugField("имя", max_length=64, unique=True)
    is_default = models.BooleanField(
        "по умолчанию", default=False,
        help_text="Используется, когда у аватара не выбрана своя таблица (встроенный аватар).",
    )
    mapping = models.JSONField(
        "таблица", default=dict,
        help_text='Форма рта (A–H, X) → {имя морфа: вес 0..1}, например {"A": {"mouth_A": 1.0}, …}.',
    )
    description = models.TextField("описание", blank=True)
    updated_at = models.DateTimeField("изменена", auto_now=True)

    class Meta:
        verbose_name = "таблица визем"
        verbose_name_plural = "таблицы визем"
        ordering = ("-is_default", "name")
        constraints = [
            models.UniqueConstraint(
                fields=("is_default",), condition=models.Q(is_default=True), name="animation_one_default_mapping"
            ),
        ]

    def __str__(self) -> str:
        return self.name


AVATAR_STANDARD_CHOICES: list[tuple[str, str]] = [
    ("arkit", "ARKit"),
    ("oculus", "Oculus visemes"),
    ("both", "ARKit + Oculus"),
]


class Avatar(models.Model):
    """An uploaded GLB avatar. No row (or no default row) means the built-in avatar."""

    name = models.CharField("название", max_length=100)
    glb = models.FileField("файл GLB", upload_to="avatars/")
    morph_info = models.JSONField("найденные морфы", default=dict, blank=True)
    standard = models.CharField("стандарт морфов", max_length=8, choices=AVATAR_STANDARD_CHOICES)
    viseme_mapping = models.ForeignKey(
        VisemeMapping, verbose_name="таблица визем", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="avatars",
        help_text="Пусто: таблица по стандарту морфов модели (oculus / arkit), иначе таблица по умолчанию.",
    )
    is_default = models.BooleanField("по умолчанию", default=False)
    uploaded_at = models.DateTimeField("загружен", auto_now_add=True)

    class Meta:
        verbose_name = "аватар"
        verbose_name_plural = "аватары"
        ordering = ("-is_default", "name")
        constraints = [
            models.UniqueConstraint(
                fields=("is_default",), condition=models.Q(is_default=True), name="animation_one_default_avatar"
            ),
        ]

    def __str__(self) -> str:
        return self.name
