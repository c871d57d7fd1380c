"""The project settings page: trace retention and model price overrides. Admins change them through the tracing
service; viewers and members see them read-only; forged posts, CSRF, bad numbers, escaping, project isolation."""

from __future__ import annotations

import re

import pytest

from stackwright.auth import service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import AuditEntry
from stackwright.tracing.admin import retention
from tests.conftest import TEST_ADMIN_EMAIL
from tests.ui.conftest import csrf_of
from tests.ui.test_settings_pages import SCRIPT, add_user, count, signed_in_as
from tests.ui.test_sign_in import assert_page

PAGE = "/ui/settings/project"
FORMS = (
    'action="/ui/settings/project/retention"',
    'action="/ui/settings/project/prices"',
    'action="/ui/settings/project/prices/remove"',
)


def stored(db, project: str = "default") -> dict:
    with db.read() as session:
        return retention.get_settings(session, service.find_project(session, project).id)


def set_stored(db, project: str = "default", **changes) -> None:
    with db.write() as session:
        retention.update_settings(session, SYSTEM, service.find_project(session, project).id, **changes)


def test_an_admin_sets_retention_and_adds_replaces_and_removes_prices(admin, app, prepared) -> None:
    page = assert_page(admin.get(PAGE), 200)
    assert re.search(r'<a href="/ui/settings/project"[^>]*aria-current="page"', page) and "Traces are kept forever." in page
    assert all(form in page for form in FORMS[:2])
    token = csrf_of(admin.get(PAGE))
    done = admin.post(f"{PAGE}/retention", data={"csrf_token": token, "retention_days": "30"})
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=retention"
    assert "kept 30 days" in assert_page(admin.get(done.headers["location"]), 200)
    price = {"csrf_token": token, "model": "my-model", "input_per_mtok": "2.5", "output_per_mtok": "10"}
    assert admin.post(f"{PAGE}/prices", data=price).status_code == 303
    assert admin.post(f"{PAGE}/prices", data={**price, "model": "other", "input_per_mtok": "0"}).status_code == 303
    assert admin.post(f"{PAGE}/prices", data={**price, "output_per_mtok": "12"}).status_code == 303  # replaces
    assert stored(prepared)["prices"] == {"my-model": {"input_per_mtok": 2.5, "output_per_mtok": 12.0},
                                          "other": {"input_per_mtok": 0.0, "output_per_mtok": 10.0}}  # fmt: skip
    listed = assert_page(admin.get(PAGE), 200)
    assert 'data-price-model="my-model"' in listed and 'data-price-model="other"' in listed
    with prepared.read() as session:
        pid = service.find_project(session, "default").id
    assert app.state.pricers.get(pid).overrides["my-model"]["output_per_mtok"] == 12.0  # new spans use it at once
    assert admin.post(f"{PAGE}/prices/remove", data={"csrf_token": token, "model": "other"}).status_code == 303
    assert list(stored(prepared)["prices"]) == ["my-model"]
    assert "no price override" in assert_page(
        admin.post(f"{PAGE}/prices/remove", data={"csrf_token": token, "model": "gone"}), 400
    )
    assert admin.post(f"{PAGE}/retention", data={"csrf_token": token, "retention_days": ""}).status_code == 303
    assert stored(prepared)["retention_days"] is None and stored(prepared)["prices"]
    with prepared.read() as session:
        actors = {e.actor for e in session.query(AuditEntry).filter(AuditEntry.action == "trace_settings.update")}
    assert actors == {f"web:{TEST_ADMIN_EMAIL}"}


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_see_read_only_and_forged_posts_are_403(app, prepared, role) -> None:
    set_stored(prepared, retention_days=14, prices={"m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}})
    add_user(prepared, f"{role}.user@example.com", role)
    client = signed_in_as(app, f"{role}.user@example.com")
    page = assert_page(client.get(PAGE), 200)
    assert "kept 14 days" in page and 'data-price-model="m"' in page and "data-read-only" in page
    assert not [form for form in FORMS if form in page]
    token = csrf_of(client.get("/ui/settings/password"))
    before = (count(prepared, AuditEntry), stored(prepared))
    posts = {
        f"{PAGE}/retention": {"retention_days": "1"},
        f"{PAGE}/prices": {"model": "m", "input_per_mtok": "9", "output_per_mtok": "9"},
        f"{PAGE}/prices/remove": {"model": "m"},
    }
    for url, data in posts.items():
        assert "admin" in assert_page(client.post(url, data={"csrf_token": token, **data}), 403)
    assert (count(prepared, AuditEntry), stored(prepared)) == before
    client.close()


def test_a_post_without_the_right_csrf_token_is_a_403_page(admin, prepared) -> None:
    set_stored(prepared, prices={"m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}})
    before = stored(prepared)
    for url in (f"{PAGE}/retention", f"{PAGE}/prices", f"{PAGE}/prices/remove"):
        for data in ({}, {"csrf_token": "forged"}):
            form = {**data, "retention_days": "3", "model": "m", "input_per_mtok": "5", "output_per_mtok": "5"}
            assert "CSRF" in assert_page(admin.post(url, data=form), 403)
    assert stored(prepared) == before


@pytest.mark.parametrize(
    ("url", "data", "field"),
    [
        ("retention", {"retention_days": "soon"}, "retention_days"),
        ("retention", {"retention_days": "0"}, "retention_days"),
        ("retention", {"retention_days": "3651"}, "retention_days"),
        ("retention", {"retention_days": "1.5"}, "retention_days"),
        ("prices", {"model": "m", "input_per_mtok": "cheap", "output_per_mtok": "1"}, "input_per_mtok"),
        ("prices", {"model": "m", "input_per_mtok": "1", "output_per_mtok": "-1"}, "output_per_mtok"),
        ("prices", {"model": "m", "input_per_mtok": "nan", "output_per_mtok": "1"}, "input_per_mtok"),
        ("prices", {"model": "m", "input_per_mtok": "1", "output_per_mtok": "inf"}, "output_per_mtok"),
        ("prices", {"model": "  ", "input_per_mtok": "1", "output_per_mtok": "1"}, "model"),
        ("prices", {"model": "x" * 201, "input_per_mtok": "1", "output_per_mtok": "1"}, "model"),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_changes_nothing(admin, prepared, url, data, field) -> None:
    token = csrf_of(admin.get(PAGE))
    page = assert_page(admin.post(f"{PAGE}/{url}", data={"csrf_token": token, **data}), 400)
    assert re.search(rf'<span class="field-error" id="e-{field}" data-error-for="{field}">[^<]+</span>', page)
    assert stored(prepared) == {"retention_days": None, "prices": {}, "updated_at": None}
    assert count(prepared, AuditEntry, AuditEntry.action == "trace_settings.update") == 0


def test_a_model_name_with_markup_is_escaped(admin, prepared) -> None:
    token = csrf_of(admin.get(PAGE))
    assert (
        admin.post(
            f"{PAGE}/prices", data={"csrf_token": token, "model": SCRIPT, "input_per_mtok": "1", "output_per_mtok": "2"}
        ).status_code
        == 303
    )
    page = assert_page(admin.get(PAGE), 200)
    assert SCRIPT not in page and "&lt;script&gt;" in page
    bad = assert_page(
        admin.post(f"{PAGE}/prices", data={"csrf_token": token, "model": SCRIPT, "input_per_mtok": "x", "output_per_mtok": "2"}),
        400,
    )
    assert SCRIPT not in bad and "&lt;script&gt;" in bad  # the typed value, shown again, is escaped too
    assert admin.post(f"{PAGE}/prices/remove", data={"csrf_token": token, "model": SCRIPT}).status_code == 303
    assert stored(prepared)["prices"] == {}


def test_another_projects_settings_are_never_shown_or_changed(admin, prepared) -> None:
    with prepared.write() as session:
        service.create_project(session, SYSTEM, "other")
    set_stored(prepared, "other", retention_days=7, prices={"their-model": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}})
    page = assert_page(admin.get(PAGE), 200)
    assert "their-model" not in page and "7 days" not in page
    token = csrf_of(admin.get(PAGE))
    assert_page(admin.post(f"{PAGE}/prices/remove", data={"csrf_token": token, "model": "their-model"}), 400)
    assert admin.post(f"{PAGE}/retention", data={"csrf_token": token, "retention_days": "3"}).status_code == 303
    assert stored(prepared, "other")["retention_days"] == 7 and "their-model" in stored(prepared, "other")["prices"]
