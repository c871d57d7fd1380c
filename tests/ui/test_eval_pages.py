"""The evaluation pages: the runs list, one run (scores, gates, paged cases, failures only, progress), comparing two
runs (p-values, regressions, verdict), and starting a run from the form (roles, bad input, the code policy, CSRF,
escaping, another project's runs). Finished runs are stored through the evals layer's own services."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth import service as auth_service
from stackwright.auth.actors import SYSTEM, cli_actor
from stackwright.evals.models import EvalRun
from tests.gateway.conftest import fake_upstream, fake_upstream_server  # noqa: F401  (fixtures)
from tests.gateway.helpers import apply, fake_model
from tests.ui.conftest import csrf_of
from tests.ui.test_settings_pages import add_user, signed_in_as
from tests.ui.test_sign_in import assert_page

SCRIPT = "<script>alert('x')</script>"


def project_id(db, name: str = "default") -> str:
    with db.read() as session:
        return auth_service.find_project(session, name).id


def make_dataset(db, name: str = "cases", n: int = 6, project: str = "default") -> None:
    from stackwright.datasets.editing import import_items

    items = [{"input": {"question": f"question {i} {SCRIPT}"}, "expected": f"answer {i}", "metadata": {}} for i in range(n)]
    with db.write() as session:
        import_items(session, cli_actor(), project_id(db, project), name, items, [f"line {i}" for i in range(n)])


def finished_run(db, name: str, values: list[float], *, dataset: str = "cases", project: str = "default", gate: dict | None = None) -> str:
    """A completed run whose case i scored ``values[i]`` on ``contains`` (1 passes), stored as the runner stores cases."""
    from stackwright.evals import service
    from stackwright.evals.runner import finalize, load_dataset, prepare_run
    from stackwright.evals.spec import SpecSource, validate
    from stackwright.evals.trust import CodePolicy

    raw = {"name": "ui-spec", "dataset": dataset, "target": {"model": "fake-model"}, "scorers": ["contains"], **({"gate": gate} if gate else {})}
    spec = validate(raw, SpecSource("<test>", None), CodePolicy.operator())
    pid = project_id(db, project)
    prepared = prepare_run(db, pid, spec, name=name)
    with db.read() as session:
        items = load_dataset(session, pid, spec).items
    rows = [{"item_id": item["id"], "repeat_index": 0, "input": item["input"], "expected": item["expected"],
             "output": f"output {i} of {name} {SCRIPT}", "trace_id": f"{i:032x}", "latency_ms": 10.0 + i, "input_tokens": 3,
             "output_tokens": 4, "cost": 0.0001, "error": "the target timed out" if value is None else None,
             "scores": {"contains": {"value": value, "passed": None if value is None else value >= 1, "reason": f"reason {i} {SCRIPT}"}}}
            for i, (item, value) in enumerate(zip(items, values, strict=True))]  # fmt: skip
    with db.write() as session:
        service.write_cases(session, prepared.run_id, rows)
    finalize(db, pid, prepared.run_id, CodePolicy.operator())
    return prepared.run_id


def runs_count(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(EvalRun)) or 0


@pytest.fixture
def two_runs(prepared) -> tuple[str, str]:
    make_dataset(prepared, n=12)
    a = finished_run(prepared, "baseline", [0.0] * 10 + [1.0, None], gate={"contains": {"min_mean": 0.5}})
    b = finished_run(prepared, "candidate", [1.0] * 11 + [None], gate={"contains": {"min_mean": 0.5}})
    return a, b


def test_the_runs_list_shows_each_run_with_its_spec_dataset_target_status_and_gate(admin: httpx.Client, two_runs) -> None:
    page = assert_page(admin.get("/ui/evals"), 200)
    assert re.search(r'<a href="/ui/evals"[^>]*>Evaluations</a>', page)  # the navigation entry
    a, b = two_runs
    assert page.index(f'data-run-id="{b}"') < page.index(f'data-run-id="{a}"')  # newest first
    row_a = page[page.index(f'data-run-id="{a}"') :].split("</tr>")[0]
    assert "baseline" in row_a and "ui-spec" in row_a and "cases@1" in row_a and "model fake-model" in row_a and "completed" in row_a
    assert "verdict-failed" in row_a and "verdict-passed" in page
    assert 'action="/ui/evals/compare"' in page and f'name="a" value="{a}"' in page and 'href="/ui/evals/new"' in page


def test_a_run_page_shows_scores_gates_and_the_cases_paged_with_a_failures_filter(admin: httpx.Client, two_runs) -> None:
    a, _ = two_runs
    page = assert_page(admin.get(f"/ui/evals/{a}"), 200)
    scores = page[page.index('data-scorer="contains"') :].split("</tr>")[0]
    assert "0.091" in scores and "9.1%" in scores  # mean 1/11, pass rate 1/11; the interval beside it
    assert re.search(r"\d\.\d{3} – \d\.\d{3}", scores) and ">11<" in scores and ">1<" in scores  # measured, unmeasured
    assert "reason 11" in scores  # why a case is unmeasured
    assert 'data-gate="contains.min_mean"' in page and "FAIL" in page
    assert page.count("data-case=") == 12 and "/ui/traces/" + "0" * 31 + "1" in page and "11 ms" in page and "$0.000100" in page
    assert SCRIPT not in page and "&lt;script&gt;" in page
    failing = assert_page(admin.get(f"/ui/evals/{a}", params={"failures": "1"}), 200)
    assert failing.count("data-case=") == 11 and "Failures only" not in failing and "failures only (11)" in failing.lower()


def test_the_case_table_pages_through_every_case(admin: httpx.Client, prepared) -> None:
    make_dataset(prepared, n=60)
    run = finished_run(prepared, "big", [1.0] * 60)
    first = assert_page(admin.get(f"/ui/evals/{run}"), 200)
    assert first.count("data-case=") == 50 and "cases 1–50 of 60" in first
    following = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert assert_page(admin.get(following), 200).count("data-case=") == 10


def test_comparing_two_runs_shows_p_values_regressions_outputs_and_a_verdict(admin: httpx.Client, two_runs) -> None:
    a, b = two_runs
    page = assert_page(admin.get("/ui/evals/compare", params={"a": a, "b": b}), 200)
    verdict = re.search(r'id="verdict">(.*?)</p>', page, re.S).group(1)
    assert "candidate is better on contains, p = 0.002" in verdict  # exact McNemar: 10 flips up, none down
    row = page[page.index('<tr data-scorer="contains"') :].split("</tr>")[0]
    assert 'data-p="mcnemar">0.001953' in row and 'data-p="wilcoxon">' in row and ">10<" in row and ">0<" in row
    assert "10 regressions" not in page and "0 regressions, 10 improvements" in page
    assert "output 0 of baseline" in page and "output 0 of candidate" in page  # side by side
    assert SCRIPT not in page
    picker = assert_page(admin.get("/ui/evals/compare"), 200)
    assert f'<option value="{a}"' in picker


def test_another_projects_runs_are_not_found(admin: httpx.Client, prepared, two_runs) -> None:
    with prepared.write() as session:
        project = auth_service.create_project(session, SYSTEM, "other", "")
        auth_service.add_member(session, SYSTEM, project.id, auth_service.find_user(session, "admin@example.com").id, "owner")
    make_dataset(prepared, project="other")
    theirs = finished_run(prepared, "theirs", [1.0] * 6, project="other")
    assert "theirs" not in admin.get("/ui/evals").text
    assert_page(admin.get(f"/ui/evals/{theirs}"), 404)
    assert_page(admin.get("/ui/evals/compare", params={"a": two_runs[0], "b": theirs}), 404)
    assert admin.get(f"/ui/evals/{theirs}/progress").status_code == 404


@pytest.fixture
def served(api, fake_upstream):  # noqa: F811
    apply(api, fake_model(fake_upstream.base_url, "fake-model"))
    return fake_upstream


def wait_done(client: httpx.Client, run_id: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        state = client.get(f"/ui/evals/{run_id}/progress").json()
        if state["status"] != "running":
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


def test_a_member_starts_a_run_from_the_form_and_watches_it_finish(app, prepared, served) -> None:
    make_dataset(prepared)
    add_user(prepared, "member@example.com", "member")
    member = signed_in_as(app, "member@example.com")
    form = assert_page(member.get("/ui/evals/new", params={"dataset": "cases"}), 200)
    assert 'value="cases"' in form and '<option value="fake-model">' in form
    fields = {"csrf_token": csrf_of(member.get("/ui/evals/new")), "dataset": "cases", "dataset_version": "1", "model": "fake-model", "params": '{"temperature": 0}',
              "messages": '[{"role": "system", "content": "Answer briefly."}]', "scorers": ["contains", "similarity"], "name": "from-the-form"}  # fmt: skip
    started = member.post("/ui/evals/new", data=fields)
    assert started.status_code == 303, started.text
    run_id = started.headers["location"].rsplit("/", 1)[1]
    assert wait_done(member, run_id) == {"status": "completed", "done": 6, "total": 6}
    page = assert_page(member.get(f"/ui/evals/{run_id}"), 200)
    assert "from-the-form" in page and 'data-scorer="similarity"' in page and "cases@1" in page
    sent = served.requests()[-1]["body"]["messages"]
    assert sent[0] == {"role": "system", "content": "Answer briefly."} and sent[1]["role"] == "user"
    with prepared.read() as session:
        from stackwright.auth.models import AuditEntry

        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "eval_run.start", AuditEntry.object_id == run_id))
    assert entry is not None and "member@example.com" in entry.actor
    again = member.post("/ui/evals/new", data={"csrf_token": fields["csrf_token"], "spec": "from-the-form"})
    assert again.status_code == 303, again.text  # the stored spec of that run, run again


@pytest.mark.parametrize(("fields", "field", "says"), [
    ({"dataset": "nope", "model": "fake-model", "scorers": "contains"}, "dataset", "nope"),
    ({"dataset": "cases", "dataset_version": "7", "model": "fake-model", "scorers": "contains"}, "dataset_version", "7"),
    ({"dataset": "cases", "dataset_version": "x", "model": "fake-model", "scorers": "contains"}, "dataset_version", "whole number"),
    ({"dataset": "cases", "model": "gpt-unknown", "scorers": "contains"}, "model", "serves no chat model"),
    ({"dataset": "cases", "model": "fake-model", "scorers": "contans"}, "scorers", "Unknown scorer"),
    ({"dataset": "cases", "model": "fake-model"}, "scorers", "at least one"),
    ({"dataset": "cases", "model": "fake-model", "scorers": "contains", "params": "{temp"}, "params", "not valid JSON"),
    ({"dataset": "cases", "model": "fake-model", "scorers": "contains", "messages": '{"role": "user"}'}, "messages", "list of chat messages"),
    ({"dataset": "cases", "prompt": "missing-prompt", "scorers": "contains"}, "prompt", "missing-prompt"),
    ({"dataset": "cases", "model": "fake-model", "scorers": "json_schema"}, "scorers", "give `schema`"),
    ({"dataset": "cases", "model": "fake-model", "scorers": "contains", "name": "bad name!"}, "name", "run name"),
    ({"spec": "name: [unclosed"}, "spec", "not valid YAML"),
    ({"spec": "no-such-spec"}, "spec", "No eval spec or run named"),
    ({"spec": "name: s\ndataset: nope\ntarget: {model: fake-model}\nscorers: [contains]\n"}, "spec", "nope"),
])  # fmt: skip
def test_bad_input_is_shown_beside_its_field_and_starts_nothing(admin: httpx.Client, prepared, served, fields, field, says) -> None:
    make_dataset(prepared)
    token = csrf_of(admin.get("/ui/evals/new"))
    page = assert_page(admin.post("/ui/evals/new", data={"csrf_token": token, **fields}), 400)
    message = re.search(rf'data-error-for="{field}">([^<]*)<', page)
    assert message and says in message.group(1), page
    assert runs_count(prepared) == 0


def test_python_code_the_operator_did_not_allow_is_refused_and_starts_nothing(admin: httpx.Client, prepared, served) -> None:
    make_dataset(prepared)
    token = csrf_of(admin.get("/ui/evals/new"))
    spec = "name: s\ndataset: cases\ntarget: {model: fake-model}\nscorers:\n  - {type: python, function: 'os:system'}\n"
    page = assert_page(admin.post("/ui/evals/new", data={"csrf_token": token, "spec": spec}), 403)
    assert "STACKWRIGHT_EVAL_PYTHON_ALLOW" in re.search(r'data-error-for="spec">([^<]*)<', page).group(1)
    target = "name: s\ndataset: cases\ntarget: {python: 'os:getcwd'}\nscorers: [contains]\n"
    assert_page(admin.post("/ui/evals/new", data={"csrf_token": token, "spec": target}), 403)
    assert runs_count(prepared) == 0


def test_a_viewer_reads_the_pages_sees_no_start_form_and_a_forged_post_is_403(app, prepared, two_runs, served) -> None:
    add_user(prepared, "viewer@example.com", "viewer")
    viewer = signed_in_as(app, "viewer@example.com")
    assert 'href="/ui/evals/new"' not in assert_page(viewer.get("/ui/evals"), 200)
    assert_page(viewer.get(f"/ui/evals/{two_runs[0]}"), 200)
    form = assert_page(viewer.get("/ui/evals/new"), 200)
    assert 'action="/ui/evals/new"' not in form and "needs the member role" in form
    token = csrf_of(viewer.get("/ui/settings/password"))
    forged = viewer.post("/ui/evals/new", data={"csrf_token": token, "dataset": "cases", "model": "fake-model", "scorers": "contains"})
    assert_page(forged, 403)
    assert runs_count(prepared) == 2


def test_a_post_without_the_csrf_token_is_403(admin: httpx.Client, prepared, served) -> None:
    make_dataset(prepared)
    assert_page(admin.post("/ui/evals/new", data={"dataset": "cases", "model": "fake-model", "scorers": "contains"}), 403)
    assert_page(admin.post("/ui/evals/new", data={"csrf_token": "forged", "dataset": "cases", "model": "fake-model", "scorers": "contains"}), 403)
    assert runs_count(prepared) == 0


def test_a_running_run_shows_its_progress_and_a_reload_link(admin: httpx.Client, prepared) -> None:
    from stackwright.evals.runner import prepare_run
    from stackwright.evals.spec import SpecSource, validate
    from stackwright.evals.trust import CodePolicy

    make_dataset(prepared)
    spec = validate({"name": "slow", "dataset": "cases", "target": {"model": "m"}, "scorers": ["contains"]}, SpecSource("<t>", None), CodePolicy.operator())
    run = prepare_run(prepared, project_id(prepared), spec, name="still-running")
    page = assert_page(admin.get(f"/ui/evals/{run.run_id}"), 200)
    assert f'data-eval-progress="/ui/evals/{run.run_id}/progress"' in page and "0 of 6 cases done" in page
    assert f'href="/ui/evals/{run.run_id}">Reload' in page and "<script>" not in page.split("</head>")[1]
    assert admin.get(f"/ui/evals/{run.run_id}/progress").json() == {"status": "running", "done": 0, "total": 6}
