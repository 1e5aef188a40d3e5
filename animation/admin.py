"""Admin for presets, viseme mappings and avatars.

Preset rows are immutable versions: "saving" a preset stores the next version through
``animation.services`` and never overwrites a row, so a motion plan that names
(preset, version) keeps replaying exactly. Versions cannot be deleted for the same
reason. The admin classes only wire forms to services and render read-only reports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from animation import selectors, services
from animation.forms import PRESET_FIELDS, AnimationPresetForm, AvatarForm, PresetImportForm, VisemeMappingForm
from animation.models import AnimationPreset, Avatar, VisemeMapping

# ModelAdmin is generic only in django-stubs; at runtime it cannot be subscripted.
if TYPE_CHECKING:
    _PresetAdminBase = admin.ModelAdmin[AnimationPreset]
    _AvatarAdminBase = admin.ModelAdmin[Avatar]
    _MappingAdminBase = admin.ModelAdmin[VisemeMapping]
else:
    _PresetAdminBase = _AvatarAdminBase = _MappingAdminBase = admin.ModelAdmin


def _become(obj: Model, saved: Model) -> None:
    """Make the admin's unsaved form instance stand for the row a service stored.

    The admin logs, messages and redirects with the object it passed to save_model; the
    service created a different row (a new version), so the admin must point at that one.
    """
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


class VersionsFilter(admin.SimpleListFilter):
    title = "версии"
    parameter_name = "versions"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", "все версии")]

    def choices(self, changelist: Any) -> Any:
        # The default (no parameter) is "latest only", so it gets that label, not "All".
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "только последние",
        }
        yield {
            "selected": self.value() == "all",
            "query_string": changelist.get_query_string({self.parameter_name: "all"}),
            "display": "все версии",
        }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "all":
            return queryset
        return queryset.filter(pk__in=AnimationPreset.objects.latest_versions().values("pk"))


def _preview_form_data(fields: Mapping[str, Any]) -> dict[str, str]:
    """The preview's field values as the admin form posts them: strings, a ticked box as "on"."""
    data: dict[str, str] = {}
    for name in PRESET_FIELDS:
        value = fields.get(name)
        if name == "loop":
            if value is True or value == "on":
                data[name] = "on"
        elif name == "tracks" and value is not None and not isinstance(value, str):
            data[name] = json.dumps(value)  # already parsed: the form parses text
        elif value is not None:
            data[name] = str(value)
    return data


@admin.register(AnimationPreset)
class AnimationPresetAdmin(_PresetAdminBase):
    form = AnimationPresetForm
    list_display = ("name", "version", "emotion", "loop", "duration", "interpolation", "track_count", "created_at")
    list_display_links = ("name", "version")
    list_filter = (VersionsFilter, "emotion", "loop", "interpolation")
    search_fields = ("name", "description")
    ordering = ("name", "-version")
    actions = ("duplicate_selected", "export_json")
    # The app's change form (duplicate link) plus the live preview panel.
    change_form_template = "admin/animation/animationpreset/change_form_preview.html"
    change_list_template = "admin/animation/animationpreset/change_list.html"

    # --- pages ------------------------------------------------------------------------

    def get_fields(self, request: HttpRequest, obj: AnimationPreset | None = None) -> Any:
        if obj is None:
            return PRESET_FIELDS
        return ("name", "version", "created_at", *PRESET_FIELDS[1:], "history")

    def get_readonly_fields(self, request: HttpRequest, obj: AnimationPreset | None = None) -> Any:
        # The name is the preset's identity: a different name is a different preset
        # (use "duplicate"). Version numbers and dates are assigned by the store.
        return ("name", "version", "created_at", "history") if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Stored utterances name (preset, version); deleting one would break their replay.
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """The add page with ``?from=<id>`` is a duplicate of that version under a free name."""
        source_id = request.GET.get("from", "")
        source = AnimationPreset.objects.filter(pk=source_id).first() if source_id.isdigit() else None
        if source is None:
            return super().get_changeform_initial_data(request)
        data = source.to_data()
        data["name"] = services.free_preset_name(f"{source.name[:55]}-copy")
        return {name: data[name] for name in PRESET_FIELDS}

    def save_model(self, request: HttpRequest, obj: AnimationPreset, form: Any, change: bool) -> None:
        data = form.preset_data()
        preset, created = services.save_preset(data)
        if change and not created:
            messages.info(request, f"Содержимое совпадает с последней версией {preset}: новая версия не создана.")
        elif change:
            messages.info(request, f"Сохранено как новая версия {preset}; прежние версии не изменены.")
        _become(obj, preset)

    def response_change(self, request: HttpRequest, obj: AnimationPreset) -> HttpResponse:
        response = super().response_change(request, obj)
        if "_continue" in request.POST:
            # Django continues at the URL it was saved from: the old version. The edit
            # now lives in the new version, so continue there.
            url = reverse("admin:animation_animationpreset_change", args=(obj.pk,))
            context: dict[str, Any] = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
            return HttpResponseRedirect(add_preserved_filters(context, url))
        return response

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name=f"{info[0]}_{info[1]}_import"),
            path(
                "preview-validate/", self._staff_json_view(self.preview_validate_view),
                name=f"{info[0]}_{info[1]}_preview_validate",
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, change: bool = False,
        form_url: str = "", obj: AnimationPreset | None = None,
    ) -> HttpResponse:
        info = self.opts.app_label, self.opts.model_name
        validate_url = reverse(f"admin:{info[0]}_{info[1]}_preview_validate", current_app=self.admin_site.name)
        context["preset_preview"] = {
            "validateUrl": validate_url,
            "objectId": obj.pk if obj is not None else None,
            # What a view-only page previews: it has no tracks textarea to read.
            "preset": obj.to_data() if obj is not None else None,
        }
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- live preview: the save's checks, nothing stored ---------------------------------

    def _staff_json_view(self, view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
        """Like ``admin_site.admin_view``, except that a signed-in non-staff user gets a 403.

        The admin sends such a user to the login form, which a ``fetch()`` from the preview
        cannot follow; an anonymous visitor is still sent to log in.
        """
        protected = csrf_protect(require_POST(view))

        @wraps(view)
        def gate(request: HttpRequest) -> HttpResponse:
            if not request.user.is_authenticated:
                login = reverse("admin:login", current_app=self.admin_site.name)
                return redirect_to_login(request.get_full_path(), login)
            if not self.admin_site.has_permission(request):
                return JsonResponse({"error": "только для персонала"}, status=403)
            return protected(request)

        return never_cache(gate)

    def preview_validate_view(self, request: HttpRequest) -> HttpResponse:
        """POST ``{"object_id": pk | null, "fields": {form values}}``: the errors a save would show.

        Runs the admin's own form (so ``validate_preset`` and the field checks), stores
        nothing. Answers ``{"valid", "errors": {field: [messages]}, "labels": {field: label},
        "issues": [{"path", "code", "message"}]}``.
        """
        try:
            payload = json.loads(request.body)
        except (UnicodeDecodeError, ValueError):
            return JsonResponse({"error": "тело запроса должно быть JSON"}, status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("fields"), dict):
            return JsonResponse({"error": 'нужен объект {"object_id": ..., "fields": {...}}'}, status=400)
        obj = None
        if payload.get("object_id") is not None:
            obj = self.get_object(request, str(payload["object_id"]))
            if obj is None:
                return JsonResponse({"error": "нет такого пресета"}, status=404)
        allowed = self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)
        if not allowed:
            return JsonResponse({"error": "нет прав на изменение пресетов"}, status=403)
        form = self.get_form(request, obj, change=obj is not None)(_preview_form_data(payload["fields"]), instance=obj)
        valid = form.is_valid()
        issues = form.preset_issues if isinstance(form, AnimationPresetForm) else []
        return JsonResponse({
            "valid": valid,
            "errors": {field: list(errors) for field, errors in form.errors.items()},
            "labels": {name: str(field.label) for name, field in form.fields.items()},
            "issues": [asdict(issue) for issue in issues],
        })

    # --- read-only parts --------------------------------------------------------------

    @admin.display(description="дорожек")
    def track_count(self, obj: AnimationPreset) -> int:
        return len(obj.tracks) if isinstance(obj.tracks, list) else 0

    @admin.display(description="история версий")
    def history(self, obj: AnimationPreset) -> SafeString:
        versions = list(selectors.preset_versions(obj.name))
        latest = versions[0].version if versions else None
        rows = format_html_join(
            "",
            '<tr{}><td><a href="{}">v{}</a>{}</td><td>{}</td><td>{}</td><td>{} с</td><td>{}</td></tr>',
            (
                (
                    mark_safe(' style="font-weight: bold"') if v.pk == obj.pk else "",
                    reverse("admin:animation_animationpreset_change", args=(v.pk,)),
                    v.version,
                    " (последняя)" if v.version == latest else "",
                    v.created_at.strftime("%Y-%m-%d %H:%M:%S") if v.created_at else "",
                    v.get_emotion_display() or "—",
                    f"{v.duration:g}",
                    len(v.tracks) if isinstance(v.tracks, list) else 0,
                )
                for v in versions
            ),
        )
        return format_html(
            '<table class="preset-history"><thead><tr><th>версия</th><th>создана</th><th>эмоция</th>'
            "<th>длительность</th><th>дорожек</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    # --- actions ----------------------------------------------------------------------

    @admin.action(description="Дублировать выбранные (новое имя «…-copy»)", permissions=["add"])
    def duplicate_selected(self, request: HttpRequest, queryset: QuerySet[AnimationPreset]) -> None:
        copies = [services.duplicate_preset(preset) for preset in queryset.order_by("name", "version")]
        self.message_user(request, "Созданы копии: " + ", ".join(str(c) for c in copies), messages.SUCCESS)

    @admin.action(description="Экспортировать выбранные в JSON")
    def export_json(self, request: HttpRequest, queryset: QuerySet[AnimationPreset]) -> HttpResponse:
        presets = list(queryset.order_by("name", "version"))
        response = HttpResponse(services.export_presets(presets), content_type="application/json; charset=utf-8")
        filename = f"{presets[0].name}-v{presets[0].version}.json" if len(presets) == 1 else "presets.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    # --- import -----------------------------------------------------------------------

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PresetImportForm(request.POST or None, request.FILES or None)
        errors: list[tuple[str, list[str]]] = []
        if request.method == "POST" and form.is_valid():
            try:
                created, unchanged = services.import_presets(services.parse_preset_file(form.cleaned_data["file"]))
            except services.PresetImportRejected as exc:
                form.add_error("file", exc.message)
            except services.PresetImportInvalid as exc:
                errors = [(label, [str(issue) for issue in issues]) for label, issues in exc.errors]
            else:
                if created:
                    self.message_user(
                        request, "Импортированы новые версии: " + ", ".join(map(str, created)), messages.SUCCESS
                    )
                if unchanged:
                    self.message_user(
                        request, "Без изменений (уже есть такая версия): " + ", ".join(map(str, unchanged)),
                        messages.INFO,
                    )
                return HttpResponseRedirect(reverse("admin:animation_animationpreset_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Импорт пресетов из JSON",
            "form": form,
            "preset_errors": errors,
        }
        return TemplateResponse(request, "admin/animation/animationpreset/import.html", context)


@admin.register(VisemeMapping)
class VisemeMappingAdmin(_MappingAdminBase):
    form = VisemeMappingForm
    list_display = ("name", "is_default", "morph_names", "updated_at")
    list_filter = ("is_default",)
    search_fields = ("name", "description")
    readonly_fields = ("is_default", "updated_at")
    actions = ("make_default",)

    @admin.display(description="морфы")
    def morph_names(self, obj: VisemeMapping) -> str:
        names = sorted({name for morphs in obj.mapping.values() if isinstance(morphs, dict) for name in morphs})
        return ", ".join(names[:12]) + (" …" if len(names) > 12 else "")

    def save_model(self, request: HttpRequest, obj: VisemeMapping, form: Any, change: bool) -> None:
        services.save_viseme_mapping(obj)

    @admin.action(description="Сделать таблицей по умолчанию", permissions=["change"])
    def make_default(self, request: HttpRequest, queryset: QuerySet[VisemeMapping]) -> None:
        mappings = list(queryset[:2])
        if len(mappings) != 1:
            self.message_user(request, "Выберите ровно одну таблицу.", messages.ERROR)
            return
        services.make_default_mapping(mappings[0])
        self.message_user(request, f"Таблица по умолчанию: {mappings[0]}.", messages.SUCCESS)


@admin.register(Avatar)
class AvatarAdmin(_AvatarAdminBase):
    form = AvatarForm
    list_display = ("name", "standard", "is_default", "morph_summary", "viseme_mapping", "uploaded_at")
    list_filter = ("standard", "is_default")
    search_fields = ("name",)
    actions = ("make_default", "use_builtin")

    def get_fields(self, request: HttpRequest, obj: Avatar | None = None) -> Any:
        if obj is None:
            return ("name", "glb", "viseme_mapping")
        return ("name", "viseme_mapping", "glb_link", "standard", "is_default", "uploaded_at", "morph_report")

    def get_readonly_fields(self, request: HttpRequest, obj: Avatar | None = None) -> Any:
        # A different file is a different avatar: upload it as a new one.
        return ("glb_link", "standard", "is_default", "uploaded_at", "morph_report") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Avatar, form: Any, change: bool) -> None:
        if change:
            services.update_avatar(obj, name=obj.name, viseme_mapping=obj.viseme_mapping)
            return
        avatar = services.upload_avatar(
            name=obj.name, content=form.glb_content, filename=form.cleaned_data["glb"].name,
            viseme_mapping=obj.viseme_mapping,
        )
        _become(obj, avatar)
        messages.info(request, f"Найден стандарт морфов: {avatar.get_standard_display()}.")

    @admin.display(description="файл")
    def glb_link(self, obj: Avatar) -> SafeString:
        # Media storage is not served: the file comes through the page's own GLB route.
        url = reverse("avatar-glb", args=(obj.pk,))
        return format_html('<a href="{}">{}</a> ({} КБ)', url, obj.glb.name, obj.glb.size // 1024)

    @admin.display(description="морфы")
    def morph_summary(self, obj: Avatar) -> str:
        info = obj.morph_info
        return f"ARKit {len(info.get('arkit', []))}/52, Oculus {len(info.get('oculus', []))}/15"

    @admin.display(description="найденные морфы")
    def morph_report(self, obj: Avatar) -> SafeString:
        info = obj.morph_info
        rows = [
            ("ARKit", f"{len(info.get('arkit', []))} из 52", ", ".join(info.get("arkit", [])) or "—"),
            ("нет ARKit", "", ", ".join(info.get("arkit_missing", [])) or "—"),
            ("Oculus", f"{len(info.get('oculus', []))} из 15", ", ".join(info.get("oculus", [])) or "—"),
            ("нет Oculus", "", ", ".join(info.get("oculus_missing", [])) or "—"),
            ("другие", str(len(info.get("other", []))), ", ".join(info.get("other", [])) or "—"),
        ]
        rows += [
            (f"меш «{m['mesh']}»", f"{m['target_count']} морфов", ", ".join(m["names"]) or "без имён")
            for m in info.get("meshes", [])
        ]
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows)
        )

    @admin.action(description="Сделать аватаром по умолчанию", permissions=["change"])
    def make_default(self, request: HttpRequest, queryset: QuerySet[Avatar]) -> None:
        avatars = list(queryset[:2])
        if len(avatars) != 1:
            self.message_user(request, "Выберите ровно один аватар.", messages.ERROR)
            return
        services.make_default_avatar(avatars[0])
        self.message_user(request, f"Аватар по умолчанию: {avatars[0]}.", messages.SUCCESS)

    @admin.action(description="Вернуть встроенный аватар", permissions=["change"])
    def use_builtin(self, request: HttpRequest, queryset: QuerySet[Avatar]) -> None:
        services.make_default_avatar(None)
        self.message_user(request, "На странице снова встроенный аватар.", messages.SUCCESS)

