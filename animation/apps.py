from django.apps import AppConfig


class AnimationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "animation"
    verbose_name = "Анимация"
