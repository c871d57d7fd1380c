"""The prompt pages (part of bench/ui.py; `figures(server, runs)`). No figure is pinned for them in the issue;
the targets here are the trace list's (100 ms), as they are pages of the same kind.

Seeds through the API: 200 prompts, and `bench-prompt` with 200 versions (a 12-message chat prompt whose user
message changes each version) and labels on some. Then the p50 of the whole request for a signed-in browser of:
the prompt list (first page of 50), the history of the 200-version prompt (first page of 50 versions, its labels
and label moves), one version, and the diff of two versions.
Alone: `cd bench && ../.venv/bin/python ui_prompts.py`.
"""

from __future__ import annotations

from ingest import Server
from ui_support import p50_ms, run_alone, sign_in, sign_in_form

PROMPT = "bench-prompt"
VERSIONS = 200
OTHER_PROMPTS = 200


def _body(n: int) -> dict:
    messages = [{"role": "system", "content": "You are the support assistant for {{ product }}. Answer from the context only."}]
    for turn in range(5):
        messages += [{"role": "user", "content": f"Earlier question {turn}: {{{{ q{turn} }}}}"},
                     {"role": "assistant", "content": f"Earlier answer {turn}, line one.\nLine two.\nLine three."}]  # fmt: skip
    messages.append({"role": "user", "content": f"Context:\n{{{{ context }}}}\n\nQuestion (revision {n}): {{{{ question }}}}"})
    labels = ["staging"] if n % 10 == 0 else []
    return {"name": PROMPT, "type": "chat", "messages": messages, "model": {"name": "gpt-4o-mini", "temperature": round(n / 1000, 3)},
            "labels": labels, "message": f"revision {n}"}  # fmt: skip


def seed(server: Server) -> None:
    for n in range(1, VERSIONS + 1):
        assert server.client.post("/api/v1/prompts", json=_body(n)).status_code == 201
    for n in range(OTHER_PROMPTS):
        body = {"name": f"bench-other-{n}", "type": "text", "template": "Hello {{ who }}", "labels": ["staging"]}
        assert server.client.post("/api/v1/prompts", json=body).status_code in (200, 201)


def figures(server: Server, runs: int) -> list[tuple[str, float, int]]:
    seed(server)
    server.wait_idle()
    browser = sign_in(sign_in_form(server.url))
    pages = [
        ("prompt list", "/ui/prompts", 'data-prompt="bench-other-199"'),
        ("prompt history, 200 versions", f"/ui/prompts/{PROMPT}", f'data-version="{VERSIONS}"'),
        ("prompt version", f"/ui/prompts/{PROMPT}/versions/{VERSIONS // 2}", "revision 100"),
        ("prompt diff", f"/ui/prompts/{PROMPT}/diff?a=1&b=staging", 'class="diff-add"'),
    ]
    results = []
    for label, url, expected in pages:

        def page(_: object, url: str = url, expected: str = expected) -> None:
            response = browser.get(url)
            assert response.status_code == 200 and expected in response.text, (url, response.status_code)

        results.append((label, p50_ms(page, runs), 100))
    browser.close()
    return results


if __name__ == "__main__":
    run_alone(figures, __doc__)
