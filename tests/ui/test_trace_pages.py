"""The trace pages: list filters and paging, the waterfall, the span panel, the eight answers, escaping,
project isolation and roles. Spans go in through the real OTLP endpoint; pages are read as a browser would."""

from __future__ import annotations

import re

import httpx
import pytest

from stackwright.auth import service
from stackwright.auth.actors import SYSTEM
from tests.tracing.spans_helpers import send, span, span_id, trace_id
from tests.ui.conftest import csrf_of, sign_in
from tests.ui.test_sign_in import assert_page

BOTH_DATABASES = True  # the pages run their own queries: both databases (tests/ui/conftest.py)

SCRIPT = "<script>alert('x')</script>"


def send_trace(api: httpx.Client, name: str = "chat", *, start_ms: float = 0, attrs: dict | None = None) -> tuple[str, list[str]]:
    """A root span and a child LLM span; returns the trace id and the span ids."""
    tid, root, child = trace_id(), span_id(), span_id()
    root_attrs = {"input.value": "a question", "output.value": "an answer", "session.id": "s1", **(attrs or {})}
    child_attrs = {"llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 10, "llm.token_count.completion": 5}
    send(api, [span(tid, root, name, start_ms, start_ms + 100, attrs=root_attrs),
               span(tid, child, "llm", start_ms + 10, start_ms + 90, parent=root, attrs=child_attrs)])  # fmt: skip
    return tid, [root, child]


def add_user(prepared, email: str, role: str | None, project: str = "default") -> None:
    with prepared.write() as session:
        user = service.create_user(session, SYSTEM, email, "a long password")
        if role:
            service.add_member(session, SYSTEM, service.find_project(session, project).id, user.id, role)


def test_the_list_shows_traces_with_their_columns_and_pages_by_cursor(admin: httpx.Client, api: httpx.Client) -> None:
    ids = [send_trace(api, f"chat-{i}", start_ms=i * 1000)[0] for i in range(3)]
    page = assert_page(admin.get("/ui/traces", params={"limit": "2"}), 200)
    shown = re.findall(r'data-trace-id="([0-9a-f]+)"', page)
    assert shown == [ids[2], ids[1]]  # newest first
    assert "gpt-4o-mini" in page and "100 ms" in page and ">15<" in page
    following = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert re.findall(r'data-trace-id="([0-9a-f]+)"', admin.get(following).text) == [ids[0]]
    filtered = admin.get("/ui/traces", params={"name": "chat-1"}).text
    assert re.findall(r'data-trace-id="([0-9a-f]+)"', filtered) == [ids[1]]


def test_a_filter_that_cannot_be_parsed_is_shown_beside_its_field(admin: httpx.Client) -> None:
    page = assert_page(admin.get("/ui/traces", params={"start": "yesterday-ish", "min_cost": "cheap", "status": "bad"}), 200)
    assert re.search(r'data-error-for="start">[^<]*is not a time', page)
    assert re.search(r'data-error-for="min_cost">[^<]*is not a number', page)
    assert 'data-error-for="status"' in page
    assert 'value="yesterday-ish"' in page  # the value stays in its field to be fixed
    assert "Cursor" in assert_page(admin.get("/ui/traces", params={"cursor": "nonsense"}), 200)


def test_the_trace_page_has_the_waterfall_the_span_panel_and_the_eight_answers(admin: httpx.Client, api: httpx.Client) -> None:
    tid, (root, child) = send_trace(api)
    page = assert_page(admin.get(f"/ui/traces/{tid}"), 200)
    assert re.findall(r'<tr data-span-id="([0-9a-f]+)"', page) == [root, child]
    assert [int(n) for n in re.findall(r'data-question="(\d)"', page)] == list(range(1, 9))
    for n in range(1, 9):
        section = re.search(rf'data-question="{n}"[^>]*>(.*?)</li>\s*(?=<li data-question|</ol>)', page, re.S).group(1)
        assert re.sub(r"<[^>]+>", "", section).strip()  # each has its answer as text
    assert 'data-body="input"' in page and "a question" in page  # the root span is selected at first
    child_page = admin.get(f"/ui/traces/{tid}", params={"span": child}).text
    assert "llm.model_name" in child_page and 'aria-selected="true"' in child_page


def test_span_values_are_escaped_everywhere(admin: httpx.Client, api: httpx.Client) -> None:
    tid, _ = send_trace(api, SCRIPT, attrs={"input.value": SCRIPT, "evil": f'"><img src=x onerror=alert(1)>{SCRIPT}'})
    for url in ("/ui/traces", f"/ui/traces/{tid}", "/ui/sessions/s1"):
        page = assert_page(admin.get(url), 200)
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;alert(" in page, url


def test_another_projects_trace_is_a_404_page_until_the_user_switches_to_it(admin: httpx.Client, api: httpx.Client, app, prepared) -> None:
    from stackwright.auth import keys
    from stackwright.sdk.transport import InProcessTransport

    with prepared.write() as session:
        other = service.create_project(session, SYSTEM, "other")
        owner = service.find_user(session, "admin@example.com")
        service.add_member(session, SYSTEM, other.id, owner.id, "viewer")
        _, other_key = keys.create_key(session, SYSTEM, other.id, "other key", ["write"])
    headers = {"Authorization": f"Bearer {other_key}"}
    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test", headers=headers) as other_api:
        theirs, _ = send_trace(other_api, "their-trace")
    mine, _ = send_trace(api, "my-trace")
    assert "No trace" in assert_page(admin.get(f"/ui/traces/{theirs}"), 404)
    assert theirs not in admin.get("/ui/traces").text
    page = admin.get("/ui/traces")
    assert 'name="project_id"' in page.text  # a switcher: the admin is in two projects
    switched = admin.post("/ui/project", data={"csrf_token": csrf_of(page), "project_id": other.id})
    assert switched.status_code == 303
    assert "their-trace" in assert_page(admin.get(f"/ui/traces/{theirs}"), 200)
    assert assert_page(admin.get(f"/ui/traces/{mine}"), 404)
    refused = admin.post("/ui/project", data={"csrf_token": csrf_of(page), "project_id": "prj_notmine"})
    assert assert_page(refused, 404)


def test_a_missing_trace_and_a_malformed_id_are_404_pages(admin: httpx.Client) -> None:
    assert assert_page(admin.get(f"/ui/traces/{trace_id()}"), 404)
    assert assert_page(admin.get("/ui/traces/not-an-id"), 404)


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_project_roles_read_traces(browser: httpx.Client, api: httpx.Client, prepared, role: str) -> None:
    tid, _ = send_trace(api)
    add_user(prepared, f"{role}@example.com", role)
    assert sign_in(browser, f"{role}@example.com", "a long password").status_code == 303
    assert tid in assert_page(browser.get("/ui/traces"), 200)
    assert [int(n) for n in re.findall(r'data-question="(\d)"', browser.get(f"/ui/traces/{tid}").text)] == list(range(1, 9))


def test_a_user_in_no_project_sees_no_traces(browser: httpx.Client, api: httpx.Client, prepared) -> None:
    send_trace(api)
    add_user(prepared, "outsider@example.com", None)
    assert sign_in(browser, "outsider@example.com", "a long password").status_code == 303
    assert "not a member of any project" in assert_page(browser.get("/ui/traces"), 403)
    assert assert_page(browser.get("/ui/sessions"), 403)


def test_sessions_list_and_conversation(admin: httpx.Client, api: httpx.Client) -> None:
    first, _ = send_trace(api, "turn-1", start_ms=0)
    second, _ = send_trace(api, "turn-2", start_ms=5000)
    listing = assert_page(admin.get("/ui/sessions"), 200)
    assert 'href="/ui/sessions/s1"' in listing
    page = assert_page(admin.get("/ui/sessions/s1"), 200)
    assert re.findall(r'<li data-trace-id="([0-9a-f]+)"', page) == [first, second]  # in order
    assert assert_page(admin.get("/ui/sessions/nope"), 404)


def test_a_10000_span_trace_opens_with_deeper_spans_collapsed_and_one_span_body(admin: httpx.Client, api: httpx.Client) -> None:
    """Root, 10 steps, 100 calls under them, 9,889 leaves under the calls: the rows down to depth 2 are
    shown, the leaves are in the page but hidden below their collapsed call, and only the selected span's
    body is inlined."""
    tid, root = trace_id(), span_id()
    spans = [span(tid, root, "agent", 0, 10_000, attrs={"input.value": "the root input"})]
    steps = [span_id() for _ in range(10)]
    calls = [span_id() for _ in range(100)]
    spans += [span(tid, s, f"step-{i}", i, 9_000, parent=root) for i, s in enumerate(steps)]
    spans += [span(tid, c, f"call-{i}", 20 + i, 8_000, parent=steps[i // 10]) for i, c in enumerate(calls)]
    spans += [span(tid, span_id(), "leaf", 200 + i % 5000, 7_000, parent=calls[i % 100], attrs={"input.value": f"leaf body {i}"})
              for i in range(10_000 - len(spans))]  # fmt: skip
    for i in range(0, len(spans), 2000):
        send(api, spans[i : i + 2000])
    page = assert_page(admin.get(f"/ui/traces/{tid}"), 200)
    rows = re.findall(r"<tr data-span-id=\"[0-9a-f]+\"[^>]*>", page)
    assert len(rows) == 10_000 and "Only the first" not in page
    hidden = [r for r in rows if r.endswith(" hidden>") or " hidden " in r]
    assert len(hidden) == 10_000 - 111
    assert all('data-depth="3"' in r for r in hidden)
    assert len([r for r in rows if 'data-expanded="false"' in r]) == 100  # the calls: collapsed, with a toggle
    assert 'data-collapsed="9889"' in page and "open=all" in page
    assert "the root input" in page and "leaf body" not in page  # bodies: the selected span's only
    assert len(page) < 8_000_000
    leaf = re.search(r'<tr data-span-id="([0-9a-f]+)"[^>]*data-depth="3"', page).group(1)
    chosen = admin.get(f"/ui/traces/{tid}", params={"span": leaf}).text  # its own URL shows its body, in view
    selected_row = re.search(rf'<tr data-span-id="{leaf}"[^>]*>', chosen).group(0)
    assert "hidden" not in selected_row and 'aria-selected="true"' in selected_row and "leaf body" in chosen
    assert len(re.findall(r"<tr data-span-id=\"[0-9a-f]+\"[^>]*hidden", chosen)) == 10_000 - 111 - 99
    everything = admin.get(f"/ui/traces/{tid}", params={"open": "all"}).text
    assert "hidden>" not in everything.split("<tbody>")[1].split("</tbody>")[0]


def send_demo_like_trace(api: httpx.Client, prompt: str = "support.answer") -> tuple[str, str, str]:
    """A request like the support demo's: a root, a retrieval step and a model call with a stored prompt on a
    route; returns the trace id, the model call's span id and the retrieval's."""
    tid, root, search, call = trace_id(), span_id(), span_id(), span_id()
    call_attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "stackwright.prompt.name": prompt,
                  "stackwright.prompt.version": "3", "stackwright.route": "support.answer", "stackwright.environment": "production",
                  "llm.token_count.prompt": 10, "llm.token_count.completion": 5}  # fmt: skip
    send(api, [span(tid, root, "support", 0, 300, attrs={"input.value": "hi"}),
               span(tid, search, "retrieve", 5, 25, parent=root, attrs={"openinference.span.kind": "RETRIEVER"}),
               span(tid, call, "chat", 30, 290, parent=root, attrs=call_attrs)])  # fmt: skip
    return tid, call, search


def test_the_answers_link_to_the_prompt_the_route_and_the_slowest_span(admin: httpx.Client, api: httpx.Client) -> None:
    tid, call, _ = send_demo_like_trace(api, prompt=f"support{SCRIPT}")
    page = assert_page(admin.get(f"/ui/traces/{tid}"), 200)
    section = {n: re.search(rf'data-question="{n}"[^>]*>(.*?)</li>\s*(?=<li data-question|</ol>)', page, re.S).group(1) for n in (1, 7)}
    links = re.findall(r'<a href="([^"]+)" data-link>', section[1])
    assert "/ui/traces?prompt_name=support%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E&amp;prompt_version=3" in links
    assert "/ui/traces?route=support.answer&amp;environment=production" in links
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in section[1]
    assert f'<a href="?span={call}" data-link>span chat</a>' in section[7]  # the slowest step, on this page
    filtered = admin.get(links[0].replace("&amp;", "&")).text
    assert re.findall(r'data-trace-id="([0-9a-f]+)"', filtered) == [tid]
    assert tid in admin.get(links[1].replace("&amp;", "&")).text


def test_eval_runs_are_named_by_id_and_every_label_is_plain_text() -> None:
    from stackwright.ui.answer_links import answer_links

    runs = {"stable": {"id": "run_1", "name": SCRIPT}, "candidate": {"id": "run_2", "name": "b"}}
    links = answer_links("eval_delta", {"route": "r", "environment": "e", "runs": runs})
    assert links[0]["href"] == "/ui/traces?route=r&environment=e"
    assert [link["href"] for link in links[1:]] == [None, None] and "run_1" in links[1]["label"] and "run_2" in links[2]["label"]
    assert answer_links("model", {"asked": "x"}) == [] and answer_links("slowest_step", {"explanation": "no spans"}) == []


def test_the_span_panel_shows_chat_messages_tool_calls_and_documents_escaped(admin: httpx.Client, api: httpx.Client) -> None:
    import json

    tid, root, call, search = trace_id(), span_id(), span_id(), span_id()
    asked = [{"role": "system", "content": f"be kind {SCRIPT}"}, {"role": "user", "content": [{"type": "text", "text": "where is my order?"}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "shipped"}]  # fmt: skip
    answered = {"role": "assistant", "content": None,
                "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": f"lookup{SCRIPT}", "arguments": '{"id": 7}'}}]}  # fmt: skip
    docs = {"openinference.span.kind": "RETRIEVER", "input.value": "order status"}
    for i, (score, text) in enumerate([(0.91, f"Orders ship in 2 days {SCRIPT}"), (0.5, "x" * 25_000)]):
        docs |= {f"retrieval.documents.{i}.document.id": f"chk_{i}", f"retrieval.documents.{i}.document.score": score,
                 f"retrieval.documents.{i}.document.content": text,
                 f"retrieval.documents.{i}.document.metadata": json.dumps({"source": f"faq-{i}.md"})}  # fmt: skip
    send(api, [span(tid, root, "support", 0, 100),
               span(tid, search, "retrieval search faq", 5, 20, parent=root, attrs=docs),
               span(tid, call, "chat", 30, 90, parent=root, attrs={"input.value": json.dumps(asked), "output.value": json.dumps(answered)})])  # fmt: skip
    page = assert_page(admin.get(f"/ui/traces/{tid}", params={"span": call}), 200)
    chat = page.split('data-messages="input"')[1].split("<h3>Attributes</h3>")[0]
    assert "<script>alert" not in page and chat.count("&lt;script&gt;alert(") == 2
    assert re.findall(r'data-role="(\w+)"', page) == ["system", "user", "tool", "assistant"]
    assert "where is my order?" in page and "<code>call_1</code>" in page
    assert re.search(r'tool call <code>lookup&lt;script&gt;[^<]*</code><pre class="body">\{\s+&#34;id&#34;: 7\s+\}</pre>', page)
    assert 'data-body="input"' not in page  # messages, not raw JSON
    retrieval = assert_page(admin.get(f"/ui/traces/{tid}", params={"span": search}), 200)
    rows = retrieval.split("data-documents")[1].split("</table>")[0]
    assert "chk_0" in rows and "faq-0.md" in rows and "0.9100" in rows and "0.5000" in rows and "&lt;script&gt;alert(" in rows
    assert "<script>alert" not in retrieval and "x" * 25_000 not in retrieval  # the long document is cut ...
    more = re.search(r'data-more>… (\d+) more characters: <a href="([^"]+)">', retrieval)
    assert int(more.group(1)) == 25_000 - 4000 and more.group(2) == f"?span={search}&amp;full=1"
    whole = assert_page(admin.get(f"/ui/traces/{tid}" + more.group(2).replace("&amp;", "&")), 200)
    assert "x" * 25_000 in whole and "data-more" not in whole  # ... and shown whole on the link


def test_a_member_adds_a_score_through_the_score_service(browser: httpx.Client, api: httpx.Client, prepared) -> None:
    tid, _ = send_trace(api)
    add_user(prepared, "scorer@example.com", "member")
    assert sign_in(browser, "scorer@example.com", "a long password").status_code == 303
    page = browser.get(f"/ui/traces/{tid}")
    assert "data-score-form" in assert_page(page, 200)
    url = f"/ui/traces/{tid}/scores"
    bad = browser.post(url, data={"csrf_token": csrf_of(page), "name": "", "value": "nan", "comment": "x"})
    refused = assert_page(bad, 400)
    assert 'data-error-for="name"' in refused and re.search(r'data-error-for="value">[^<]*finite number', refused)
    assert 'value="x"' in refused  # what was typed stays to be fixed
    done = browser.post(url, data={"csrf_token": csrf_of(page), "name": f"helpful{SCRIPT}", "value": "0.8", "comment": SCRIPT})
    assert done.status_code == 303 and done.headers["location"] == f"/ui/traces/{tid}?done=score#scores"
    label = browser.post(url, data={"csrf_token": csrf_of(page), "name": "tone", "value": "friendly", "comment": ""})
    assert label.status_code == 303
    shown = assert_page(browser.get(done.headers["location"]), 200)
    assert "Score added." in shown and "<script>alert" not in shown and "&lt;script&gt;alert(" in shown
    listed = api.get("/api/v1/scores", params={"trace_id": tid}).json()["data"]
    assert {(s["name"], s["data_type"], s["value"], s["comment"], s["source"], s["author"]) for s in listed} == {
        (f"helpful{SCRIPT}", "numeric", 0.8, SCRIPT, "human", "web:scorer@example.com"),
        ("tone", "categorical", "friendly", None, "human", "web:scorer@example.com"),
    }
    forged = browser.post(url, data={"csrf_token": "forged", "name": "n", "value": "1"})
    assert "security token" in assert_page(forged, 403)


def test_a_viewer_sees_no_score_form_and_a_forged_post_is_refused(browser: httpx.Client, api: httpx.Client, prepared) -> None:
    tid, _ = send_trace(api)
    add_user(prepared, "watcher@example.com", "viewer")
    assert sign_in(browser, "watcher@example.com", "a long password").status_code == 303
    page = browser.get(f"/ui/traces/{tid}")
    assert "data-score-form" not in assert_page(page, 200) and f"/ui/traces/{tid}/scores" not in page.text
    forged = browser.post(f"/ui/traces/{tid}/scores", data={"csrf_token": csrf_of(page), "name": "n", "value": "1"})
    assert "write" in assert_page(forged, 403)
    assert api.get("/api/v1/scores", params={"trace_id": tid}).json()["data"] == []


def test_a_score_for_another_projects_trace_is_a_404_page(admin: httpx.Client, api: httpx.Client) -> None:
    page = admin.get("/ui/traces")
    missing = admin.post(f"/ui/traces/{trace_id()}/scores", data={"csrf_token": csrf_of(page), "name": "n", "value": "1"})
    assert "No trace" in assert_page(missing, 404)


def test_a_member_adds_the_trace_to_a_new_then_an_existing_dataset_with_personal_data_masked(browser: httpx.Client, api: httpx.Client, prepared) -> None:
    tid, _ = send_trace(api, attrs={"input.value": "mail me at jane@example.com", "output.value": "done"})
    other, _ = send_trace(api, "second")
    add_user(prepared, "curator@example.com", "member")
    assert sign_in(browser, "curator@example.com", "a long password").status_code == 303
    page = browser.get(f"/ui/traces/{tid}")
    assert "data-dataset-form" in assert_page(page, 200)
    done = browser.post(f"/ui/traces/{tid}/datasets", data={"csrf_token": csrf_of(page), "dataset": "", "new_dataset": "from-ui"})
    assert done.status_code == 303 and done.headers["location"].startswith(f"/ui/traces/{tid}?added=from-ui%401&item=")
    shown = assert_page(browser.get(done.headers["location"]), 200)
    item = re.search(r"data-added>Added to <strong>from-ui</strong>: version 1, item <code>([0-9a-f]{32})</code>", shown).group(1)
    assert '<option value="from-ui">from-ui</option>' in shown  # now offered in the select
    again = browser.post(f"/ui/traces/{other}/datasets", data={"csrf_token": csrf_of(page), "dataset": "from-ui", "new_dataset": ""})
    assert "from-ui</strong>: version 2" in assert_page(browser.get(again.headers["location"]), 200)
    items = api.get("/api/v1/datasets/from-ui/versions/2/items").json()["data"]
    assert [(i["id"], i["input"], i["metadata"]["trace_id"]) for i in items][0] == (item, "mail me at <EMAIL>", tid)
    held = browser.post(f"/ui/traces/{tid}/datasets", data={"csrf_token": csrf_of(page), "dataset": "from-ui"})
    assert "already holds this trace" in browser.get(held.headers["location"]).text
    forged_link = browser.get(f"/ui/traces/{tid}", params={"added": "from-ui@2", "item": "0" * 32}).text
    assert "data-added" not in forged_link  # a confirmation is only shown for what the dataset holds


def test_a_bad_dataset_name_is_shown_beside_its_field_escaped(admin: httpx.Client, api: httpx.Client) -> None:
    tid, _ = send_trace(api)
    page = admin.get(f"/ui/traces/{tid}")
    url = f"/ui/traces/{tid}/datasets"
    empty = assert_page(admin.post(url, data={"csrf_token": csrf_of(page), "dataset": "", "new_dataset": " "}), 400)
    assert re.search(r'data-error-for="dataset">Choose a dataset or type a new name', empty)
    long = assert_page(admin.post(url, data={"csrf_token": csrf_of(page), "new_dataset": "a" * 129}), 400)
    assert re.search(r'data-error-for="new_dataset">[^<]*at most 128 characters', long) and 'value="' + "a" * 129 in long
    evil = assert_page(admin.post(url, data={"csrf_token": csrf_of(page), "new_dataset": SCRIPT}), 400)
    assert 'data-error-for="new_dataset"' in evil and "<script>alert" not in evil and "&lt;script&gt;alert(" in evil
    assert api.get("/api/v1/datasets").json()["data"] == []


def test_a_viewer_sees_no_dataset_form_and_a_forged_post_is_refused_by_the_service(browser: httpx.Client, api: httpx.Client, prepared) -> None:
    tid, _ = send_trace(api)
    add_user(prepared, "reader@example.com", "viewer")
    assert sign_in(browser, "reader@example.com", "a long password").status_code == 303
    page = browser.get(f"/ui/traces/{tid}")
    assert "data-dataset-form" not in assert_page(page, 200) and f"/ui/traces/{tid}/datasets" not in page.text
    forged = browser.post(f"/ui/traces/{tid}/datasets", data={"csrf_token": csrf_of(page), "new_dataset": "sneaky"})
    assert "write" in assert_page(forged, 403)
    assert api.get("/api/v1/datasets").json()["data"] == []


def test_adding_to_a_dataset_checks_csrf_and_never_reaches_another_projects_trace(admin: httpx.Client, api: httpx.Client) -> None:
    tid, _ = send_trace(api)
    page = admin.get(f"/ui/traces/{tid}")
    forged = admin.post(f"/ui/traces/{tid}/datasets", data={"csrf_token": "forged", "new_dataset": "cases"})
    assert "security token" in assert_page(forged, 403)
    missing = admin.post(f"/ui/traces/{trace_id()}/datasets", data={"csrf_token": csrf_of(page), "new_dataset": "cases"})
    assert "No trace" in assert_page(missing, 404)
    assert api.get("/api/v1/datasets").json()["data"] == []


def test_the_traces_list_shows_each_traces_prompt_version_and_scores(admin: httpx.Client, api: httpx.Client) -> None:
    tid, _ = send_trace(api, "answer", attrs={"stackwright.prompt.name": "support-answer", "stackwright.prompt.version": "3"})
    other, _ = send_trace(api, "plain", start_ms=1000)
    for body in ({"name": "helpful", "value": 0.75}, {"name": "<script>x</script>", "value": "bad", "data_type": "categorical"}):
        response = api.post("/api/v1/scores", json={"trace_id": tid, **body})
        assert response.status_code in (200, 201), response.text
    page = assert_page(admin.get("/ui/traces"), 200)
    row = re.search(rf'<tr data-trace-id="{tid}">.*?</tr>', page, re.S).group(0)
    assert "support-answer v3" in row and "helpful=0.75" in row
    assert "&lt;script&gt;x&lt;/script&gt;=bad" in row and "<script>x" not in page
    plain = re.search(rf'<tr data-trace-id="{other}">.*?</tr>', page, re.S).group(0)
    assert "helpful" not in plain
