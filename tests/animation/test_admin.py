"""The presets and avatars admin, through the real admin views and the test client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from animation import selectors, services
from animation.models import AnimationPreset, Avatar
from tests.animation.test_glb import ARKIT, OCULUS, make_glb

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PRESETS = "/admin/animation/animationpreset/"
AVATARS = "/admin/animation/avatar/"


def form_data(preset: AnimationPreset | dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = preset.to_data() if isinstance(preset, AnimationPreset) else dict(preset)
    data.update(changes)
    form = {
        "name": data["name"],
        "emotion": data["emotion"] or "",
        "duration": data["duration"],
        "interpolation": data.get("interpolation", "smooth"),
        "description": data.get("description", ""),
        "tracks": data["tracks"] if isinstance(data["tracks"], str) else json.dumps(data["tracks"]),
    }
    if data["loop"]:
        form["loop"] = "on"
    return form


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    errors: dict[str, list[str]] = response.context["adminform"].form.errors
    return errors


def nod() -> AnimationPreset:
    preset = selectors.latest_preset("nod")
    assert preset is not None, "the data migration loads the bundled presets"
    return preset


# --- presets: list, history -----------------------------------------------------------------


def test_list_shows_latest_versions_and_all_on_request(admin_client: Client) -> None:
    services.create_preset_version({**nod().to_data(), "duration": 1.3})
    latest = admin_client.get(PRESETS)
    assert latest.status_code == 200
    rows = list(latest.context["cl"].result_list)
    assert [(p.name, p.version) for p in rows if p.name == "nod"] == [("nod", 2)]
    everything = admin_client.get(PRESETS, {"versions": "all"})
    assert [p.version for p in everything.context["cl"].result_list if p.name == "nod"] == [2, 1]
    found = admin_client.get(PRESETS, {"q": "wave"})
    assert {p.name for p in found.context["cl"].result_list} == {"wave"}
    happy = admin_client.get(PRESETS, {"emotion__exact": "happy"})
    assert {p.emotion for p in happy.context["cl"].result_list} == {"happy"}


# --- presets: editing creates versions ------------------------------------------------------


def test_saving_an_edit_creates_a_new_version_and_keeps_the_old_one(admin_client: Client) -> None:
    original = nod()
    tracks = [*original.tracks]
    tracks[0] = {**tracks[0], "values": [v * 0.5 for v in tracks[0]["values"]]}
    response = admin_client.post(
        f"{PRESETS}{original.pk}/change/", {**form_data(original, tracks=tracks), "_continue": "1"}
    )
    assert response.status_code == 302
    newest = nod()
    assert newest.version == original.version + 1 and newest.pk != original.pk
    assert response["Location"] == f"{PRESETS}{newest.pk}/change/"
    assert newest.tracks == tracks
    original.refresh_from_db()
    assert original.tracks != tracks, "an old version is never overwritten"
    page = admin_client.get(response["Location"])
    history = page.content.decode()
    assert f'href="{PRESETS}{original.pk}/change/"' in history and f"v{newest.version}" in history
    assert "(последняя)" in history


def test_saving_without_changes_creates_no_version(admin_client: Client) -> None:
    original = nod()
    response = admin_client.post(f"{PRESETS}{original.pk}/change/", form_data(original), follow=True)
    assert response.status_code == 200
    assert nod().pk == original.pk
    assert "новая версия не создана" in response.content.decode()


def test_saving_an_older_version_unchanged_reverts_by_a_new_version(admin_client: Client) -> None:
    v1 = nod()
    v2 = services.create_preset_version({**v1.to_data(), "duration": 1.3})
    admin_client.post(f"{PRESETS}{v1.pk}/change/", form_data(v1))
    v3 = nod()
    assert v3.version == v2.version + 1 and v3.duration == v1.duration


def test_invalid_tracks_are_field_errors_with_their_paths(admin_client: Client) -> None:
    original = nod()
    tracks = json.loads(json.dumps(original.tracks))
    tracks[0]["times"][2] = tracks[0]["times"][1]  # not increasing
    tracks[1]["name"] = "tail"  # no such bone
    response = admin_client.post(f"{PRESETS}{original.pk}/change/", form_data(original, tracks=tracks))
    errors = errors_of(response)
    assert any(e.startswith("tracks[0].times[2]:") and "increase" in e for e in errors["tracks"]), errors
    assert any(e.startswith("tracks[1].name:") and "tail" in e for e in errors["tracks"]), errors
    assert nod().pk == original.pk


def test_duration_problems_are_errors_on_the_duration_field(admin_client: Client) -> None:
    original = nod()
    errors = errors_of(admin_client.post(f"{PRESETS}{original.pk}/change/", form_data(original, duration=0.5)))
    # Keys after 0.5 s are now after the end: the tracks say where, the duration says why.
    assert any("after the duration" in e for e in errors["tracks"])
    errors = errors_of(admin_client.post(f"{PRESETS}{original.pk}/change/", form_data(original, duration=500)))
    assert any("duration must be" in e for e in errors["duration"])


def test_tracks_that_are_not_json_are_a_tracks_error(admin_client: Client) -> None:
    original = nod()
    response = admin_client.post(f"{PRESETS}{original.pk}/change/", form_data(original, tracks="[{oops"))
    assert list(errors_of(response)) == ["tracks"]
    assert "[{oops" in response.content.decode(), "the typed text is kept for fixing"
    errors = errors_of(admin_client.post(f"{PRESETS}{original.pk}/change/", form_data(original, tracks='{"a": 1}')))
    assert any("tracks must be a list" in e for e in errors["tracks"])


# --- presets: create and duplicate ----------------------------------------------------------


def test_create_a_new_preset_and_refuse_an_existing_name(admin_client: Client) -> None:
    data = {**nod().to_data(), "name": "double-nod", "description": "новый"}
    response = admin_client.post(f"{PRESETS}add/", form_data(data))
    assert response.status_code == 302
    created = AnimationPreset.objects.get(name="double-nod")
    assert created.version == 1 and created.description == "новый"
    errors = errors_of(admin_client.post(f"{PRESETS}add/", form_data({**data, "name": "nod"})))
    assert "name" in errors
    errors = errors_of(admin_client.post(f"{PRESETS}add/", form_data({**data, "name": "Bad Name"})))
    assert "name" in errors


def test_duplicate_button_prefills_the_add_page_under_a_free_name(admin_client: Client) -> None:
    original = nod()
    change = admin_client.get(f"{PRESETS}{original.pk}/change/")
    assert f"add/?from={original.pk}" in change.content.decode()
    add = admin_client.get(f"{PRESETS}add/", {"from": original.pk})
    initial = add.context["adminform"].form.initial
    assert initial["name"] == "nod-copy" and initial["tracks"] == original.tracks
    admin_client.post(f"{PRESETS}add/", form_data({**original.to_data(), "name": initial["name"]}))
    assert AnimationPreset.objects.get(name="nod-copy").tracks == original.tracks


def test_duplicate_action_copies_each_selected_preset(admin_client: Client) -> None:
    wave = selectors.latest_preset("wave")
    assert wave is not None
    ids = [nod().pk, wave.pk]
    for _ in range(2):
        response = admin_client.post(PRESETS, {"action": "duplicate_selected", "_selected_action": ids})
        assert response.status_code == 302
    names = set(AnimationPreset.objects.values_list("name", flat=True))
    assert {"nod-copy", "nod-copy-2", "wave-copy", "wave-copy-2"} <= names


def test_versions_cannot_be_deleted(admin_client: Client) -> None:
    original = nod()
    assert admin_client.get(f"{PRESETS}{original.pk}/delete/").status_code == 403
    actions = admin_client.get(PRESETS).context["action_form"].fields["action"].choices
    assert "delete_selected" not in [value for value, _ in actions]


# --- presets: export and import -------------------------------------------------------------


def export(client: Client, *ids: int) -> Any:
    response = client.post(PRESETS, {"action": "export_json", "_selected_action": list(ids)})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")
    return json.loads(response.content)


def upload(client: Client, content: bytes, name: str = "presets.json") -> Any:
    return client.post(f"{PRESETS}import/", {"file": SimpleUploadedFile(name, content, "application/json")})


def test_export_then_import_round_trip(admin_client: Client) -> None:
    wave = selectors.latest_preset("wave")
    assert wave is not None
    exported = export(admin_client, nod().pk, wave.pk)
    assert [p["name"] for p in exported] == ["nod", "wave"]
    assert exported[0]["tracks"] == nod().tracks
    # Unchanged: nothing new.
    response = upload(admin_client, json.dumps(exported).encode())
    assert response.status_code == 302
    assert nod().version == 1
    # Changed (one preset, as an object): a new version.
    changed = {**exported[0], "description": "из файла", "version": 7}
    response = upload(admin_client, json.dumps(changed, ensure_ascii=False).encode(), "nod.json")
    assert response.status_code == 302
    assert (nod().version, nod().description) == (2, "из файла"), "the store numbers versions, not the file"
    single = export(admin_client, nod().pk)
    assert len(single) == 1 and single[0]["version"] == 2


def test_import_lists_errors_per_preset_and_stores_nothing(admin_client: Client) -> None:
    good = {**nod().to_data(), "name": "imported-ok"}
    bad_tracks = {**nod().to_data(), "name": "imported-bad"}
    bad_tracks["tracks"] = [{**bad_tracks["tracks"][0], "name": "tail"}]
    response = upload(admin_client, json.dumps([good, bad_tracks, {"name": 5}]).encode())
    assert response.status_code == 200
    errors = dict(response.context["preset_errors"])
    assert set(errors) == {"№2 «imported-bad»", "№3"}
    assert any("tracks[0].name" in e for e in errors["№2 «imported-bad»"])
    assert any("'emotion' is required" in e for e in errors["№3"])
    assert "imported-bad" in response.content.decode()
    assert not AnimationPreset.objects.filter(name__startswith="imported").exists()


@pytest.mark.parametrize(
    ("content", "name", "fragment"),
    [
        (b"\x89PNG not json", "a.json", "Это не JSON"),
        (b"[1, 2]", "a.json", "Нужен JSON-объект"),
        (b"[]", "a.json", "Нужен JSON-объект"),
        (b"{}", "a.txt", "Нужен файл .json"),
        (b"[" + b" " * (1024 * 1024) + b"]", "big.json", "больше 1024 КБ"),
    ],
    ids=["not-json", "wrong-shape", "empty-list", "not-.json", "oversized"],
)
def test_import_refuses_unusable_files(admin_client: Client, content: bytes, name: str, fragment: str) -> None:
    before = AnimationPreset.objects.count()
    response = upload(admin_client, content, name)
    assert response.status_code == 200
    assert any(fragment in e for e in response.context["form"].errors["file"]), response.context["form"].errors
    assert AnimationPreset.objects.count() == before


def test_changelist_links_to_the_import_page(admin_client: Client) -> None:
    assert f'href="{PRESETS}import/"' in admin_client.get(PRESETS).content.decode()
    assert admin_client.get(f"{PRESETS}import/").status_code == 200


# --- presets: live preview ------------------------------------------------------------------

PREVIEW = f"{PRESETS}preview-validate/"


def preview_fields(preset: AnimationPreset, **changes: Any) -> dict[str, Any]:
    """The fields as static/animation/preset-preview.js sends them: as typed, loop a boolean."""
    form = form_data(preset, **changes)
    return {**form, "loop": form.pop("loop", "") == "on"}


def preview(client: Client, fields: dict[str, Any], object_id: int | None = None) -> Any:
    body = json.dumps({"object_id": object_id, "fields": fields})
    return client.post(PREVIEW, body, content_type="application/json")


def test_change_and_add_pages_carry_the_preview_panel(admin_client: Client) -> None:
    original = nod()
    change = admin_client.get(f"{PRESETS}{original.pk}/change/")
    html = change.content.decode()
    assert "data-preset-preview" in html and "animation/preset-preview.js" in html
    assert '"three": "/static/vendor/three/build/three.module.js"' in html  # the importmap
    assert f"add/?from={original.pk}" in html, "the app's change form (duplicate link) is still the base"
    config = change.context["preset_preview"]
    assert config["validateUrl"] == PREVIEW and config["objectId"] == original.pk
    assert config["preset"]["tracks"] == original.tracks
    add = admin_client.get(f"{PRESETS}add/")
    assert "data-preset-preview" in add.content.decode()
    assert add.context["preset_preview"]["objectId"] is None


def test_preview_reports_the_errors_the_save_would_show(admin_client: Client) -> None:
    original = nod()
    tracks = json.loads(json.dumps(original.tracks))
    tracks[0]["times"][2] = tracks[0]["times"][1]  # not increasing
    tracks[1]["name"] = "tail"  # no such bone
    before = AnimationPreset.objects.count()
    response = preview(admin_client, preview_fields(original, tracks=tracks), original.pk)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    result = response.json()
    assert result["valid"] is False
    saved = errors_of(admin_client.post(f"{PRESETS}{original.pk}/change/", form_data(original, tracks=tracks)))
    assert result["errors"] == {field: list(messages) for field, messages in saved.items()}
    assert {"times_not_increasing", "unknown_bone"} <= {issue["code"] for issue in result["issues"]}
    assert {"tracks[0].times[2]", "tracks[1].name"} <= {issue["path"] for issue in result["issues"]}
    assert result["labels"]["tracks"] == "Дорожки (JSON)"
    assert AnimationPreset.objects.count() == before, "the preview stores nothing"


def test_preview_accepts_a_valid_edit_without_storing_it(admin_client: Client) -> None:
    original = nod()
    tracks = [{**original.tracks[0], "values": [v * 0.5 for v in original.tracks[0]["values"]]}, *original.tracks[1:]]
    result = preview(admin_client, preview_fields(original, tracks=tracks), original.pk).json()
    assert result == {"valid": True, "errors": {}, "labels": result["labels"], "issues": []}
    assert nod().pk == original.pk


def test_preview_of_the_add_page_checks_the_name_and_unparsable_tracks(admin_client: Client) -> None:
    fields = preview_fields(nod())  # the add page: "nod" is taken
    result = preview(admin_client, fields).json()
    assert result["valid"] is False and list(result["errors"]) == ["name"]
    result = preview(admin_client, {**fields, "name": "fresh", "tracks": "[{oops"}).json()
    assert list(result["errors"]) == ["tracks"]
    result = preview(admin_client, {**fields, "name": "fresh", "duration": "0.5"}).json()
    assert any("after the duration" in e for e in result["errors"]["tracks"])
    assert preview(admin_client, {**fields, "name": "fresh"}).json()["valid"] is True


def test_preview_refuses_malformed_requests(admin_client: Client) -> None:
    assert admin_client.post(PREVIEW, "not json", content_type="application/json").status_code == 400
    assert admin_client.post(PREVIEW, "[1]", content_type="application/json").status_code == 400
    assert preview(admin_client, preview_fields(nod()), 999_999).status_code == 404
    assert admin_client.get(PREVIEW).status_code == 405


def test_preview_is_for_staff_who_may_edit_presets(client: Client, django_user_model: Any) -> None:
    fields = preview_fields(nod())
    response = preview(client, fields, nod().pk)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    assert preview(client, fields, nod().pk).status_code == 403
    operator = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    client.force_login(operator)
    operator.user_permissions.add(Permission.objects.get(codename="view_animationpreset"))
    assert preview(client, fields, nod().pk).status_code == 403, "viewing is not editing"
    operator.user_permissions.add(Permission.objects.get(codename="change_animationpreset"))
    operator = django_user_model.objects.get(pk=operator.pk)  # fresh permission cache
    client.force_login(operator)
    assert preview(client, fields, nod().pk).status_code == 200
    assert preview(client, {**fields, "name": "fresh"}).status_code == 403, "adding needs the add permission"


def test_preview_is_csrf_protected(admin_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    fields = preview_fields(nod())
    assert preview(client, fields, nod().pk).status_code == 403
    client.get(f"{PRESETS}{nod().pk}/change/")  # sets the CSRF cookie, as the page does
    token = client.cookies["csrftoken"].value
    body = json.dumps({"object_id": nod().pk, "fields": fields})
    response = client.post(PREVIEW, body, content_type="application/json", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.json()["valid"] is True


# --- avatars --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def upload_avatar(client: Client, content: bytes, name: str = "Аня", filename: str = "anya.glb") -> Any:
    return client.post(f"{AVATARS}add/", {"name": name, "glb": SimpleUploadedFile(filename, content)})


def test_upload_a_glb_with_oculus_visemes(admin_client: Client, settings: Any) -> None:
    response = upload_avatar(admin_client, make_glb([*OCULUS, "eyesClosed"]))
    assert response.status_code == 302
    avatar = Avatar.objects.get()
    assert avatar.standard == "oculus" and not avatar.is_default
    assert avatar.morph_info["oculus"] == OCULUS and avatar.morph_info["other"] == ["eyesClosed"]
    assert (Path(settings.MEDIA_ROOT) / avatar.glb.name).read_bytes()[:4] == b"glTF"
    page = admin_client.get(f"{AVATARS}{avatar.pk}/change/").content.decode()
    assert "15 из 15" in page and "viseme_aa" in page and "eyesClosed" in page
    assert selectors.viseme_mapping(avatar)["D"] == {"viseme_aa": 1.0}
    # The link to the file works (media storage itself is not served).
    link = f'href="/avatars/{avatar.pk}/model.glb"'
    assert link in page
    served = admin_client.get(f"/avatars/{avatar.pk}/model.glb")
    assert served.status_code == 200 and served.getvalue()[:4] == b"glTF"


def test_upload_arkit(admin_client: Client) -> None:
    assert upload_avatar(admin_client, make_glb(ARKIT)).status_code == 302
    assert Avatar.objects.get().standard == "arkit"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (make_glb([]), "нет морф-таргетов"),
        (make_glb(["smile"]), "Не найдены морфы для липсинка"),
        (b"not a model at all, just text" * 3, "Это не GLB"),
        (make_glb(OCULUS)[:-20], "обрезан"),
    ],
    ids=["no-morphs", "no-lipsync-morphs", "garbage", "truncated"],
)
def test_unusable_uploads_are_form_errors(admin_client: Client, content: bytes, fragment: str) -> None:
    errors = errors_of(upload_avatar(admin_client, content))
    assert any(fragment in e for e in errors["glb"]), errors
    assert not Avatar.objects.exists()


def test_make_default_keeps_exactly_one_and_builtin_comes_back(admin_client: Client) -> None:
    upload_avatar(admin_client, make_glb(OCULUS), name="one")
    upload_avatar(admin_client, make_glb(ARKIT), name="two")
    one, two = Avatar.objects.get(name="one"), Avatar.objects.get(name="two")
    assert selectors.default_avatar() is None, "the built-in avatar until one is chosen"
    both = admin_client.post(AVATARS, {"action": "make_default", "_selected_action": [one.pk, two.pk]}, follow=True)
    assert "ровно один" in both.content.decode() and selectors.default_avatar() is None
    admin_client.post(AVATARS, {"action": "make_default", "_selected_action": [one.pk]})
    assert selectors.default_avatar() == one
    admin_client.post(AVATARS, {"action": "make_default", "_selected_action": [two.pk]})
    assert selectors.default_avatar() == two
    assert list(Avatar.objects.filter(is_default=True)) == [two]
    admin_client.post(AVATARS, {"action": "use_builtin", "_selected_action": [two.pk]})
    assert selectors.default_avatar() is None


def test_renaming_keeps_the_file_and_morphs(admin_client: Client) -> None:
    upload_avatar(admin_client, make_glb(OCULUS))
    avatar = Avatar.objects.get()
    response = admin_client.post(f"{AVATARS}{avatar.pk}/change/", {"name": "Новое имя", "viseme_mapping": ""})
    assert response.status_code == 302
    renamed = Avatar.objects.get()
    assert (renamed.name, renamed.glb.name, renamed.morph_info) == ("Новое имя", avatar.glb.name, avatar.morph_info)


# --- permissions ----------------------------------------------------------------------------

PAGES = [PRESETS, f"{PRESETS}import/", f"{PRESETS}add/", AVATARS, f"{AVATARS}add/", "/admin/animation/visememapping/"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_and_non_staff_are_sent_to_login(client: Client, django_user_model: Any, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_needs_the_permissions(client: Client, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(PRESETS).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_animationpreset"))
    assert client.get(PRESETS).status_code == 200
    # Viewing does not allow importing (it creates versions).
    assert client.get(f"{PRESETS}import/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="add_animationpreset"))
    assert client.get(f"{PRESETS}import/").status_code == 200
