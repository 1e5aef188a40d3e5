"""Viseme mappings: the format, the shipped rows, the selector and the admin."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from animation import selectors
from animation.models import Avatar, VisemeMapping
from animation.visemes import BUILTIN_MAPPING, MOUTH_SHAPES, validate_mapping

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
URL = "/admin/animation/visememapping/"


def codes(data: Any) -> set[tuple[str, str]]:
    return {(issue.path, issue.code) for issue in validate_mapping(data)}


def test_builtin_mapping_is_valid_and_names_the_pages_morphs() -> None:
    assert validate_mapping(BUILTIN_MAPPING) == []
    # static/avatar/rig.js: mouthMorphName = (shape) => `mouth_${shape}`
    assert BUILTIN_MAPPING["A"] == {"mouth_A": 1.0} and BUILTIN_MAPPING["X"] == {"mouth_X": 1.0}


def test_validation_reports_every_problem() -> None:
    data: dict[str, Any] = {shape: {"m": 0.5} for shape in MOUTH_SHAPES if shape != "H"}
    data["Q"] = {}
    data["A"] = {"": 0.5, "jawOpen": 1.5}
    data["B"] = {"jawOpen": True}
    data["C"] = ["jawOpen"]
    assert codes(data) == {
        ("H", "required"), ("Q", "unknown_shape"), ("A.", "morph_name"), ("A.jawOpen", "weight"),
        ("B.jawOpen", "weight"), ("C", "type"),
    }
    assert codes([1, 2]) == {("", "type")}
    assert validate_mapping({shape: {} for shape in MOUTH_SHAPES}) == []  # a shape may move nothing


def test_migration_ships_the_default_and_the_standard_mappings() -> None:
    rows = {m.name: m for m in VisemeMapping.objects.all()}
    assert set(rows) >= {"builtin", "oculus", "arkit"}
    assert [m.name for m in VisemeMapping.objects.filter(is_default=True)] == ["builtin"]
    for mapping in rows.values():
        assert validate_mapping(mapping.mapping) == [], mapping.name
    assert rows["builtin"].mapping == BUILTIN_MAPPING


def test_selector_picks_the_avatars_own_then_its_standard_then_the_default() -> None:
    assert selectors.viseme_mapping() == BUILTIN_MAPPING
    oculus = VisemeMapping.objects.get(name="oculus")
    avatar = Avatar.objects.create(name="rpm", glb="avatars/x.glb", standard="both")
    assert selectors.viseme_mapping(avatar)["D"] == {"viseme_aa": 1.0}
    arkit_avatar = Avatar.objects.create(name="ark", glb="avatars/y.glb", standard="arkit")
    assert selectors.viseme_mapping(arkit_avatar)["D"] == {"jawOpen": 0.7}
    custom = VisemeMapping.objects.create(name="custom", mapping={s: {"open": 0.25} for s in MOUTH_SHAPES})
    avatar.viseme_mapping = custom
    avatar.save()
    assert selectors.viseme_mapping(avatar)["A"] == {"open": 0.25}
    # Without any rows the built-in table still answers.
    Avatar.objects.all().delete()
    oculus.delete()
    VisemeMapping.objects.all().delete()
    assert selectors.viseme_mapping() == BUILTIN_MAPPING


def _form(mapping: Any, **extra: Any) -> dict[str, Any]:
    return {"name": "mine", "mapping": json.dumps(mapping), "description": "", **extra}


def test_admin_refuses_an_invalid_mapping_with_field_errors(admin_client: Client) -> None:
    bad = {shape: {"jawOpen": 0.5} for shape in MOUTH_SHAPES if shape != "X"}
    bad["A"] = {"jawOpen": 2}
    response = admin_client.post(f"{URL}add/", _form(bad))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "нет формы рта X" in errors["mapping"]
    assert any("от 0 до 1" in e for e in errors["mapping"])
    assert not VisemeMapping.objects.filter(name="mine").exists()
    response = admin_client.post(f"{URL}add/", {**_form({}), "mapping": "{oops"})
    assert "mapping" in response.context["adminform"].form.errors


def test_admin_adds_a_mapping_and_makes_it_the_default(admin_client: Client) -> None:
    good = {shape: {f"v_{shape}": 1.0} for shape in MOUTH_SHAPES}
    response = admin_client.post(f"{URL}add/", _form(good))
    assert response.status_code == 302, response.context["adminform"].form.errors
    mine = VisemeMapping.objects.get(name="mine")
    assert not mine.is_default and selectors.viseme_mapping() == BUILTIN_MAPPING
    both = [mine.pk, VisemeMapping.objects.get(name="builtin").pk]
    refused = admin_client.post(URL, {"action": "make_default", "_selected_action": both}, follow=True)
    assert "ровно одну" in refused.content.decode()
    admin_client.post(URL, {"action": "make_default", "_selected_action": [mine.pk]})
    assert [m.name for m in VisemeMapping.objects.filter(is_default=True)] == ["mine"]
    assert selectors.viseme_mapping()["B"] == {"v_B": 1.0}
    listing = admin_client.get(URL)
    assert listing.status_code == 200 and b"mine" in listing.content
