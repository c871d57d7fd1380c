"""The release pages: the list, one release with its live arm comparison and history, and the actions (start a
canary, change the share, promote, roll back after a confirmation). Per role, forged posts, bad shares, unknown
prompt versions, stale revisions, escaping, another project's release, CSRF and the audit entries."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth import service as auth_service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import AuditEntry
from stackwright.releases import service
from stackwright.releases.models import Release
from tests.conftest import TEST_ADMIN_EMAIL
from tests.releases.conftest import push_versions
from tests.tracing.otlp_payloads import T0, export_json, new_span_id, new_trace_id, span_json
from tests.ui.conftest import csrf_of
from tests.ui.test_settings_pages import add_user, signed_in_as
from tests.ui.test_sign_in import assert_page

BOTH_DATABASES = True  # the live arm comparison runs its own grouped queries
ROUTE, ENV = "support.answer", "staging"
URL = f"/ui/releases/{ROUTE}?env={ENV}"
SCRIPT = "<script>alert('x')</script>"


def project_id(db, name: str = "default") -> str:
    with db.read() as session:
        return auth_service.find_project(session, name).id


def release(db, name: str = "default", route: str = ROUTE, env: str = ENV) -> Release:
    with db.read() as session:
        row = service.get_release(session, project_id(db, name), route, env)
        session.expunge(row)
        return row


@pytest.fixture
def released(prepared) -> str:
    """``support-answer`` v1-3 in the default project, v1 stable on support.answer in staging."""
    pid = project_id(prepared)
    push_versions(prepared, pid, "support-answer", 3)
    with prepared.write() as session:
        service.set_stable(session, SYSTEM, pid, ROUTE, ENV, "support-answer@1", "gpt-4o-mini")
    return pid


def post(
    client: httpx.Client, action: str, data: dict[str, str], *, revision: int | None = None, token: str | None = None
) -> httpx.Response:
    page = client.get(URL)
    fields = {"csrf_token": token if token is not None else csrf_of(page), "env": ENV, **data}
    if revision is not None:
        fields["revision"] = str(revision)
    return client.post(f"/ui/releases/{ROUTE}/{action}", data=fields)


def audit_actions(db) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.actor == f"web:{TEST_ADMIN_EMAIL}").order_by(AuditEntry.id)
            )
        )


def test_the_list_and_the_page_show_the_release_and_the_nav_entry(admin: httpx.Client, released) -> None:
    listing = assert_page(admin.get("/ui/releases"), 200)
    assert '<a href="/ui/releases" aria-current="page">Releases</a>' in listing
    assert f'data-release="{ROUTE}@{ENV}"' in listing and "support-answer@1" in listing
    page = assert_page(admin.get(URL), 200)
    assert page.count("<h1>") == 1 and "support-answer@1" in page and "gpt-4o-mini" in page
    assert 'data-action="set"' in page  # the history
    assert '<button type="submit">Roll back</button>' in page and "data-canary-form" in page


def test_an_admin_starts_a_canary_changes_its_share_promotes_and_rolls_back_all_audited(
    admin: httpx.Client, released, prepared
) -> None:
    started = post(admin, "canary", {"prompt": "support-answer@2", "share": "10", "mode": "canary", "model": ""}, revision=1)
    assert started.status_code == 303 and started.headers["location"].endswith("done=canary")
    row = release(prepared)
    assert (row.candidate["prompt"], row.candidate_share, row.candidate_mode, row.revision) == (
        "support-answer@2",
        10.0,
        "canary",
        2,
    )
    page = assert_page(admin.get(URL), 200)
    assert 'data-arm="stable"' in page and 'data-arm="candidate"' in page and "Live arm comparison" in page

    assert post(admin, "share", {"share": "30"}, revision=2).status_code == 303
    row = release(prepared)
    assert row.candidate_share == 30.0 and row.candidate_salt  # the same candidate: its salt stays
    assert post(admin, "promote", {}, revision=3).status_code == 303
    assert release(prepared).stable["prompt"] == "support-answer@2" and release(prepared).candidate is None

    confirm = admin.get(f"/ui/releases/{ROUTE}/rollback?env={ENV}")
    assert (
        "Confirm roll back" in assert_page(confirm, 200) and release(prepared).revision == 4
    )  # the confirmation changes nothing
    rolled = admin.post(
        f"/ui/releases/{ROUTE}/rollback",
        data={"csrf_token": csrf_of(confirm), "env": ENV, "revision": "4", "reason": "bad answers"},
    )
    assert rolled.status_code == 303
    row = release(prepared)
    assert row.stable["prompt"] == "support-answer@1" and row.last_rollback["reason"] == "bad answers"
    page = assert_page(admin.get(URL + "&done=rolled-back"), 200)
    assert "Rolled back." in page and 'data-action="rollback"' in page and "bad answers" in page
    assert audit_actions(prepared) == ["release.canary", "release.canary", "release.promote", "release.rollback"]


def test_promote_is_refused_with_the_services_reason_when_the_required_evaluation_has_no_passing_run(
    admin: httpx.Client, released, prepared
) -> None:
    with prepared.write() as session:
        service.start_candidate(session, SYSTEM, released, ROUTE, ENV, "support-answer@2", share=10, require_eval="release-gate")
    page = assert_page(admin.get(URL), 200)
    assert "release-gate" in page and "no passing run" in page
    refused = post(admin, "promote", {}, revision=release(prepared).revision)
    text = assert_page(refused, 409)
    assert "Promotion refused" in text and "release-gate" in text and "no passing result" in text
    assert release(prepared).stable["prompt"] == "support-answer@1"


def test_a_bad_share_is_shown_beside_its_field_and_nothing_changes(admin: httpx.Client, released, prepared) -> None:
    for share in ("150", "-1", "ten", "nan", ""):
        text = assert_page(
            post(admin, "canary", {"prompt": "support-answer@2", "share": share, "mode": "canary"}, revision=1), 400
        )
        assert 'data-error-for="share"' in text and "percentage from 0 to 100" in text, share
    assert release(prepared).candidate is None and release(prepared).revision == 1


def test_a_bad_share_change_and_an_unknown_prompt_version_are_inline_messages(admin: httpx.Client, released, prepared) -> None:
    text = assert_page(post(admin, "canary", {"prompt": "support-answer@9", "share": "10", "mode": "canary"}, revision=1), 400)
    assert 'data-error-for="prompt"' in text and "support-answer" in text
    text = assert_page(post(admin, "canary", {"prompt": "support-answer@2", "share": "10", "mode": "blue"}, revision=1), 400)
    assert 'data-error-for="mode"' in text
    assert release(prepared).candidate is None
    assert post(admin, "canary", {"prompt": "support-answer@2", "share": "10", "mode": "ab"}, revision=1).status_code == 303
    text = assert_page(post(admin, "share", {"share": "101"}, revision=2), 400)
    assert 'data-error-for="new_share"' in text and release(prepared).candidate_share == 10.0


def test_a_stale_revision_is_an_inline_message_and_nothing_is_applied(admin: httpx.Client, released, prepared) -> None:
    page = admin.get(URL)
    with prepared.write() as session:  # someone else starts a candidate meanwhile
        service.start_candidate(session, SYSTEM, released, ROUTE, ENV, "support-answer@3", share=5)
    fields = {"csrf_token": csrf_of(page), "env": ENV, "revision": "1"}
    for action, data in (("canary", {"prompt": "support-answer@2", "share": "10", "mode": "canary"}), ("share", {"share": "50"}),
                         ("promote", {}), ("rollback", {"reason": "stale"})):  # fmt: skip
        text = assert_page(admin.post(f"/ui/releases/{ROUTE}/{action}", data={**fields, **data}), 409)
        assert "changed meanwhile" in text and "revision 2" in text, action
    row = release(prepared)
    assert (row.revision, row.candidate["prompt"], row.candidate_share, row.last_rollback) == (2, "support-answer@3", 5.0, None)


@pytest.fixture
def team(app, prepared) -> dict[str, httpx.Client]:
    clients = {}
    for role in ("viewer", "member"):
        add_user(prepared, f"{role}.release@example.com", role)
        clients[role] = signed_in_as(app, f"{role}.release@example.com")
    yield clients
    for client in clients.values():
        client.close()


def test_a_viewer_reads_without_forms_and_a_forged_post_answers_403_while_a_member_may_act(team, released, prepared) -> None:
    viewer = team["viewer"]
    page = assert_page(viewer.get(URL), 200)
    assert "Roll back" not in page and "data-canary-form" not in page and "data-read-only" in page
    assert "Confirm roll back" not in assert_page(viewer.get(f"/ui/releases/{ROUTE}/rollback?env={ENV}"), 200)
    for action, data in (("canary", {"prompt": "support-answer@2", "share": "10", "mode": "canary"}), ("share", {"share": "20"}),
                         ("promote", {}), ("rollback", {"reason": "forged"})):  # fmt: skip
        assert_page(post(viewer, action, data, revision=1), 403)
    row = release(prepared)
    assert row.revision == 1 and row.candidate is None

    member = team["member"]
    assert '<button type="submit">Roll back</button>' in member.get(URL).text
    assert post(member, "canary", {"prompt": "support-answer@2", "share": "10", "mode": "shadow"}, revision=1).status_code == 303
    assert release(prepared).candidate_mode == "shadow"
    assert 'data-arm="shadow"' in assert_page(member.get(URL), 200)  # measured on the shadow calls' own spans


def test_forms_without_the_csrf_token_answer_403(admin: httpx.Client, released, prepared) -> None:
    for action in ("canary", "share", "promote", "rollback"):
        assert_page(post(admin, action, {"prompt": "support-answer@2", "share": "10"}, revision=1, token=""), 403)
        assert_page(post(admin, action, {"prompt": "support-answer@2", "share": "10"}, revision=1, token="wrong"), 403)
    assert release(prepared).revision == 1


def test_values_are_escaped(admin: httpx.Client, released, prepared) -> None:
    with prepared.write() as session:
        service.set_rules(session, SYSTEM, released, ROUTE, ENV, require_eval=SCRIPT)
        service.start_candidate(session, SYSTEM, released, ROUTE, ENV, "support-answer@2", share=10, model=SCRIPT)
        service.rollback(session, SYSTEM, released, ROUTE, ENV, reason=SCRIPT)
    bad = post(
        admin, "canary", {"prompt": SCRIPT, "share": SCRIPT, "mode": SCRIPT, "model": SCRIPT}, revision=release(prepared).revision
    )
    for text in (admin.get(URL).text, admin.get("/ui/releases").text, bad.text):
        assert SCRIPT not in text and "&lt;script&gt;" in text


def test_another_projects_release_is_a_404_page(admin: httpx.Client, released, prepared) -> None:
    with prepared.write() as session:
        other = auth_service.create_project(session, SYSTEM, "other")
    push_versions(prepared, other.id, "their-prompt", 2)
    with prepared.write() as session:
        service.set_stable(session, SYSTEM, other.id, "their.route", ENV, "their-prompt@1", "m")
    assert "their.route" not in admin.get("/ui/releases").text
    assert_page(admin.get(f"/ui/releases/their.route?env={ENV}"), 404)
    assert_page(admin.get(f"/ui/releases/their.route/rollback?env={ENV}"), 404)
    token = csrf_of(admin.get(URL))
    for action in ("canary", "share", "promote", "rollback"):
        answer = admin.post(
            f"/ui/releases/their.route/{action}",
            data={"csrf_token": token, "env": ENV, "prompt": "their-prompt@2", "share": "10"},
        )
        assert_page(answer, 404)
    assert_page(admin.get(f"/ui/releases/{ROUTE}?env=nowhere"), 404)
    assert admin.get(f"/ui/releases/{ROUTE}").headers["location"] == URL  # no env: its only environment


def _arm_trace(api: httpx.Client, arm: str, *, error: bool = False, ms: int = 100, cost: float = 0.01) -> str:
    trace_id = new_trace_id()
    attributes = {
        "stackwright.route": ROUTE,
        "stackwright.environment": ENV,
        "stackwright.release.arm": arm,
        "stackwright.cost": cost,
    }
    start = time.time_ns() - T0 + 1_000_000_000
    span = span_json(trace_id, new_span_id(), "llm", start=start, duration=ms * 1_000_000, attributes=attributes,
                     status={"code": 2, "message": "boom"} if error else None)  # fmt: skip
    assert api.post("/v1/traces", json=export_json(span)).status_code == 200
    return trace_id


def test_the_live_arm_comparison_counts_requests_errors_p95_cost_and_scores_per_arm(
    admin: httpx.Client, api: httpx.Client, released, prepared
) -> None:
    from stackwright.ui.release_arms import live_arms

    with prepared.write() as session:
        service.start_candidate(session, SYSTEM, released, ROUTE, ENV, "support-answer@2", share=50)
    for i in range(20):
        _arm_trace(api, "stable", ms=100 + i)
    for i in range(10):
        traced = _arm_trace(api, "candidate", error=i < 2, ms=200 + 10 * i, cost=0.02)
        assert api.post("/api/v1/scores", json={"trace_id": traced, "name": "helpful", "value": 0.5}).status_code in (200, 201)
    row = release(prepared)
    with prepared.read() as session:
        stats = live_arms(session, released, ROUTE, ENV, row.candidate_started_at, row.candidate_mode)
    by_arm = {a["arm"]: a for a in stats["arms"]}
    assert (
        by_arm["stable"]["requests"] == 20 and by_arm["stable"]["errors"] == 0 and by_arm["stable"]["p95_ms"] == 118
    )  # nearest rank: the 19th of 20
    candidate = by_arm["candidate"]
    assert (candidate["requests"], candidate["errors"], candidate["error_rate"]) == (10, 2, 0.2)
    assert candidate["p95_ms"] == pytest.approx(290) and candidate["cost"] == pytest.approx(0.2)
    assert candidate["scores"]["helpful"] == {"n": 10, "mean": 0.5} and by_arm["stable"]["scores"]["helpful"] is None
    page = assert_page(admin.get(URL), 200)
    assert "helpful" in page and "20.0 %" in page and "290 ms" in page


def test_history_is_paged(admin: httpx.Client, released, prepared) -> None:
    with prepared.write() as session:
        for share in range(1, 26):
            service.start_candidate(session, SYSTEM, released, ROUTE, ENV, "support-answer@2", share=share)
    first = assert_page(admin.get(URL), 200)
    assert first.count("data-change=") == 20 and 'rel="next"' in first
    link = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = assert_page(admin.get(link), 200)
    assert second.count("data-change=") == 6 and 'data-action="set"' in second


def test_the_audit_entries_name_the_signed_in_user(admin: httpx.Client, released, prepared) -> None:
    assert post(admin, "canary", {"prompt": "support-answer@2", "share": "10", "mode": "canary"}).status_code == 303
    with prepared.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "release.canary")).one()
        total = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == f"web:{TEST_ADMIN_EMAIL}"))
    assert entry.actor == f"web:{TEST_ADMIN_EMAIL}" and entry.after["candidate"]["share"] == 10.0 and total == 1


RULES = {"error_rate": "5", "p95_ms": "500", "scores": "helpfulness: 0.1\ngrounded: 0.05", "min_requests": "50", "require_eval": "support-gate"}


def test_an_admin_sets_and_clears_the_rules_audited_and_the_form_shows_them(admin: httpx.Client, released, prepared) -> None:
    assert post(admin, "rules", RULES, revision=1).status_code == 303
    row = release(prepared)
    assert row.rollback_rules == {"error_rate_margin": 0.05, "p95_margin_ms": 500.0, "scores": {"helpfulness": 0.1, "grounded": 0.05},
                                  "min_requests": 50}  # fmt: skip
    assert row.required_eval == "support-gate" and row.revision == 2
    page = assert_page(admin.get(URL + "&done=rules"), 200)
    assert "Rules saved." in page and 'name="error_rate" value="5"' in page and "helpfulness: 0.1" in page
    assert "error rate +5.0 %" in page and 'data-action="rules"' in page
    cleared = {**RULES, "error_rate": "", "p95_ms": "", "scores": "", "require_eval": ""}
    assert post(admin, "rules", cleared, revision=2).status_code == 303
    row = release(prepared)
    assert (row.rollback_rules, row.required_eval, row.revision) == (None, None, 3)
    assert audit_actions(prepared) == ["release.rules", "release.rules"]


@pytest.mark.parametrize(
    ("change", "field", "needle"),
    [
        ({"error_rate": "lots"}, "error_rate", "give a number of 0 or more"),
        ({"error_rate": "150"}, "error_rate", "less than or equal to 1"),
        ({"p95_ms": "-3"}, "p95_ms", "give a number of 0 or more"),
        ({"scores": "helpfulness"}, "scores", "is not &#39;name: margin&#39;"),
        ({"min_requests": "0"}, "min_requests", "greater than or equal to 1"),
        ({"min_requests": "many"}, "min_requests", "whole number"),
        ({"require_eval": "x" * 300}, "require_eval", "is not valid"),
    ],
)
def test_bad_rules_are_shown_beside_their_field_and_nothing_changes(admin: httpx.Client, released, prepared, change, field, needle) -> None:
    text = assert_page(post(admin, "rules", {**RULES, **change}, revision=1), 400)
    assert f'data-error-for="{field}"' in text and needle in text
    assert f'value="{change[field]}"' in text or f">{change[field]}</textarea>" in text  # what was typed stays in the form
    row = release(prepared)
    assert (row.revision, row.rollback_rules, row.required_eval) == (1, None, None)


def test_rules_obey_roles_revision_and_csrf(team, admin: httpx.Client, released, prepared) -> None:
    assert_page(post(team["viewer"], "rules", RULES, revision=1), 403)
    assert_page(post(admin, "rules", RULES, revision=1, token=""), 403)
    assert release(prepared).revision == 1
    member = team["member"]
    assert post(member, "rules", RULES, revision=1).status_code == 303  # members may set rules and add a requirement
    page = assert_page(member.get(URL), 200)
    assert 'name="require_eval" value="support-gate" readonly' in page and "needs an admin" in page
    assert_page(post(member, "rules", {**RULES, "require_eval": ""}, revision=2), 403)  # removing it needs admin
    text = assert_page(post(admin, "rules", {**RULES, "p95_ms": "900"}, revision=1), 409)
    assert "changed meanwhile" in text
    row = release(prepared)
    assert (row.revision, row.required_eval, row.rollback_rules["p95_margin_ms"]) == (2, "support-gate", 500.0)


def test_rule_names_are_escaped(admin: httpx.Client, released, prepared) -> None:
    assert post(admin, "rules", {**RULES, "scores": f"{SCRIPT}: 0.2"}, revision=1).status_code == 303
    page = admin.get(URL).text
    assert SCRIPT not in page and "&lt;script&gt;" in page
