"""The playground's cost over the gateway (for bench/ui.py): a member runs one configuration with
`local/extractive`, and the same call goes to POST /v1/chat/completions with the admin API key, both on
keep-alive connections to the same server. The figure is the difference of the two p50s (target <= 20 ms):
what the page's session check, form parsing, model and variable checks and rendering add to the call.

- streamed run: POST /ui/playground/stream (what the page's script sends) against the API call with
  ``stream: true``, each read to its last byte;
- form run: POST /ui/playground (the page without JavaScript: the whole page comes back with the answer)
  against the API call without streaming.
"""

from __future__ import annotations

import re

from ui_support import add_user, p50_ms, run_alone, sign_in, sign_in_form

EMAIL = "bench-playground@example.com"
MODEL = "local/extractive"
MESSAGES = [{"role": "system", "content": "Answer from the context."},
            {"role": "user", "content": "Context: Refunds take 5 days after the parcel arrives.\n\nQuestion: How long do refunds take?"}]  # fmt: skip
TARGET_MS = 20


def figures(server, runs: int) -> list[tuple[str, float, int]]:
    add_user(server, EMAIL, role="member")
    browser = sign_in(sign_in_form(server.url, EMAIL))
    page = browser.get("/ui/playground")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": token, "model-0": MODEL, "params-0": '{"max_tokens": 64}'}
    for i, message in enumerate(MESSAGES):
        form |= {f"role-{i}": message["role"], f"content-{i}": message["content"]}
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 64}

    def api_call(stream: bool) -> None:
        response = server.client.post("/v1/chat/completions", json={**body, "stream": stream})
        assert response.status_code == 200 and ("[DONE]" in response.text if stream else "choices" in response.text), response.text[:300]

    def streamed_run(_: object) -> None:
        response = browser.post("/ui/playground/stream", data={**form, "column": "0"}, headers={"X-CSRF-Token": token})
        assert response.status_code == 200 and '"done"' in response.text, response.text[:300]

    def form_run(_: object) -> None:
        response = browser.post("/ui/playground", data=form)
        assert response.status_code == 200 and "data-trace-link" in response.text, response.text[:300]

    api_stream = p50_ms(lambda _: api_call(True), runs)
    api_plain = p50_ms(lambda _: api_call(False), runs)
    streamed = p50_ms(streamed_run, runs)
    whole = p50_ms(form_run, runs)
    browser.close()
    return [
        (f"playground streamed run, overhead (API {api_stream:.1f} ms)", streamed - api_stream, TARGET_MS),
        (f"playground form run, overhead (API {api_plain:.1f} ms)", whole - api_plain, TARGET_MS),
    ]


if __name__ == "__main__":
    run_alone(figures, __doc__)
