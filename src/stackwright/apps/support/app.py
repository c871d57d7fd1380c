"""The support assistant: one traced flow through every layer of the stack.

    guard_input ─▶ understand (classify_intent ‖ lookup_account) ─▶ retrieve ─▶ answer ─▶ guard_output ─▶ decide_escalation

Every step is a ``stackwright.flows`` step (a span with its latency, attempts and cost) under one root
span ``support.ask``; the steps talk to Stackwright over its HTTP API (in this process through the ASGI
transport, or to a server): guardrails ``POST /api/v1/guardrails/check`` with the route's policy,
retrieval ``POST /api/v1/collections/help-center/context`` (hybrid search + context assembly with
citation ids), the release resolver, and the gateway ``POST /v1/chat/completions`` with
``model: route:support.answer@production`` (the release picks the prompt version and the model, sticky
per customer; the gateway applies the route's guardrail policy too and its span nests under the step).

    from stackwright.apps.support import ask
    result = ask("How do I reset my password?", account="acct-1001")
    result.answer, result.trace_id, result.escalate, result.citations
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stackwright.apps.support.accounts import AccountsDB, default_path
from stackwright.apps.support.rules import classify, escalation
from stackwright.core.errors import InvalidInput, StackwrightError
from stackwright.flows import current_step, parallel, step

ROUTE = "support.answer"
ENVIRONMENT = "production"
COLLECTION = "help-center"
POLICY = "support-guard"
PROMPT = "support-answer"
SERVICE_NAME = "support-assistant"
ROOT_SPAN = "support.ask"
STEP_NAMES = ("guard_input", "classify_intent", "lookup_account", "retrieve", "answer", "guard_output", "decide_escalation")
MAX_QUESTION_CHARS = 4000
CONTEXT_BUDGET_TOKENS = 700
REFUSAL = ("I can't help with that request. I can answer questions about your Acme Cloud account, billing and "
           "the product; please rephrase your question.")  # fmt: skip
HANDOFF = "I've passed this conversation to our support team; a person will reply by email within one business day."
ANSWER_FAILED = "Sorry, I could not produce an answer right now."
IN_PROCESS_URL = "http://stackwright.internal"

_CURRENT: ContextVar[SupportApp | None] = ContextVar("stackwright_support_app", default=None)


@dataclass
class SupportAnswer:
    """One answered question: what the customer sees and how it was produced."""

    answer: str
    trace_id: str
    question: str
    intent: str
    escalate: bool
    escalation_reasons: list[str]
    blocked: bool
    citations: list[dict[str, Any]]  # the sources the answer cites ([n] markers)
    account: dict[str, Any] | None
    retrieval_score: float | None
    prompt: str | None = None  # name@version that answered (None when the model was not called)
    prompt_version: str | None = None
    model: str | None = None
    release_arm: str | None = None
    guardrails: list[str] = field(default_factory=list)  # checks that triggered, "input:pii", "output:pii"...
    cost_usd: float = 0.0
    tokens: int = 0
    latency_ms: float = 0.0
    stored: bool = False  # every span of the trace was read back from the store
    retrieved: list[dict[str, Any]] = field(default_factory=list)  # every source put in the prompt, by citation id

    @property
    def sources(self) -> list[str]:
        """The cited articles (file names), each once, in citation order."""
        return list(dict.fromkeys(c["source"] for c in self.citations))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sources": self.sources}


class SupportApp:
    """The assistant bound to one Stackwright (``in_process`` or ``connect``); close it when done."""

    def __init__(self, http: Any, *, accounts: AccountsDB, exporter: Any = None, tracing: dict[str, Any] | None = None,
                 on_close: list[Any] | None = None, environment: str = ENVIRONMENT):  # fmt: skip
        from stackwright.sdk.observe import configure_tracing

        self.http = http
        self.accounts = accounts
        self.environment = environment
        self._on_close = list(on_close or [])
        self.asgi_app: Any = None  # the Stackwright app it drives, when in process
        options = {"service_name": SERVICE_NAME, "schedule_delay": 0.2, "max_queue_size": 100_000, **(tracing or {})}
        self.tracing = configure_tracing(exporter=exporter, **options) if exporter is not None else configure_tracing(**options)

    # -- construction ---------------------------------------------------------------------------------------
    @classmethod
    def in_process(cls, settings: Any = None, api_key: str | None = None, *, db: Any = None) -> SupportApp:
        """The app on the configured database, driving the Stackwright app in this process (no server).
        ``db``: an already prepared Database of these settings (it is then left open on close)."""
        import httpx

        from stackwright.core.config import Settings
        from stackwright.sdk.observe.otlp import OTLPHttpExporter
        from stackwright.sdk.transport import InProcessTransport
        from stackwright.server.app import create_app
        from stackwright.server.startup import prepare

        settings = settings or Settings()
        owns_db = db is None
        if owns_db:
            db, _ = prepare(settings)
        key = api_key or demo_key(settings.home)
        if not key:
            if owns_db:
                db.dispose()
            raise InvalidInput(f"The support demo is not seeded in {settings.home}: there is no demo API key.",
                               hint="Run `stackwright demo seed` first (it stores the demo key), or pass api_key=.")  # fmt: skip
        app = create_app(settings, db)
        transport = InProcessTransport(app, raise_app_exceptions=False)
        http = httpx.Client(transport=transport, base_url=IN_PROCESS_URL, timeout=120,
                            headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        exporter = OTLPHttpExporter(f"{IN_PROCESS_URL}/v1/traces", key, timeout=60)
        exporter._client = httpx.Client(transport=transport, timeout=60)
        def drain() -> None:  # gateway spans are queued on the transport's loop: store them before it stops
            portal = getattr(transport, "_portal", None)
            if portal is not None and getattr(transport, "_portal_cm", None) is not None:
                portal.call(app.state.gateway.tracer.drain)
                portal.call(app.state.span_writer.close)

        closers = [drain, http.close, exporter._client.close, transport.close, app.state.limits.close, *([db.dispose] if owns_db else [])]
        support = cls(http, accounts=AccountsDB(default_path(settings.home)), exporter=exporter, on_close=closers)
        support.asgi_app = app
        return support

    @classmethod
    def connect(cls, base_url: str | None = None, api_key: str | None = None, settings: Any = None) -> SupportApp:
        """The app talking to a running server (default http://127.0.0.1:8600 and the demo key)."""
        import httpx

        from stackwright.core.config import Settings

        settings = settings or Settings()
        base_url = (base_url or os.environ.get("STACKWRIGHT_BASE_URL") or f"http://{settings.host}:{settings.port}").rstrip("/")
        key = api_key or os.environ.get("STACKWRIGHT_API_KEY") or demo_key(settings.home)
        if not key:
            raise InvalidInput("No API key for the support demo.", hint="Run `stackwright demo seed` first, or pass api_key=.")
        http = httpx.Client(base_url=base_url, timeout=120, headers={"Authorization": f"Bearer {key}"})
        return cls(http, accounts=AccountsDB(default_path(settings.home)), tracing={"base_url": base_url, "api_key": key},
                   on_close=[http.close])  # fmt: skip

    def warm(self) -> None:
        """Load the embedded models (embedder, injection-attack corpus) now, untraced, so a one-off request
        in a fresh process measures the steps rather than the model loading (in process only)."""
        if getattr(self, "asgi_app", None) is None:
            return
        try:
            from stackwright.guardrails import check
            from stackwright.local.embedder import preload

            preload()
            check("warm up", checks=[{"check": "prompt_injection", "action": "flag"}])
            self.http.post("/api/v1/guardrails/check", json={"text": "warm up", "policy": POLICY, "direction": "input"})
            self.http.get(f"/api/v1/releases/{ROUTE}", params={"env": self.environment})
        except Exception:  # noqa: BLE001 - the first request then loads them itself
            pass

    def close(self) -> None:
        from stackwright.sdk.observe import configure_tracing, flush

        flush(30)
        configure_tracing(enabled=False)
        self.accounts.close()
        while self._on_close:
            try:
                self._on_close.pop(0)()
            except Exception:  # noqa: BLE001 - closing must go on
                pass

    def __enter__(self) -> SupportApp:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- HTTP helpers ---------------------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _api_error(response)
        return response

    # -- running --------------------------------------------------------------------------------------------
    def run(self, question: str, **kwargs: Any) -> SupportAnswer:
        """``arun`` from synchronous code (no event loop running in this thread)."""
        return asyncio.run(self.arun(question, **kwargs))

    async def arun(self, question: str, *, user_id: str | None = None, account: str | None = None,
                   session_id: str | None = None, prompt: str | None = None, wait: bool = True,
                   metadata: dict[str, Any] | None = None) -> SupportAnswer:  # fmt: skip
        """Answer one question. ``account``: a demo account id or email (unknown ones raise NotFound);
        ``user_id``: the end user (sticky release arm; default the account; a user id that is a demo
        account's id or email also selects that account); ``prompt``: answer with
        this prompt (``support-answer@canary``) instead of the release route (evals); ``wait``: flush the
        spans and read the trace back before returning (``stored`` says whether it was all there)."""
        from stackwright.core.errors import NotFound
        from stackwright.sdk.observe import observe

        question = check_question(question)
        if account is not None:
            self.accounts.find(account)  # an unknown account is the caller's error: say so before any work
        elif user_id:
            try:  # a user id that is a demo account id or email is that customer's account
                account = self.accounts.find(user_id)["id"]
            except NotFound:
                account = None
        started = time.perf_counter()
        subject = user_id or account or f"anon-{os.urandom(6).hex()}"
        token = _CURRENT.set(self)
        try:
            with observe(ROOT_SPAN, kind="chain", capture_input=False, capture_output=False) as root:
                root.set_input({"question": question, "account": account})
                root.set_attributes({"stackwright.app": "support", "stackwright.environment": self.environment,
                                     **{f"support.{k}": str(v) for k, v in (metadata or {}).items()}})  # fmt: skip
                if user_id or account:
                    root.set_user(user_id or account)
                if session_id:
                    root.set_session(session_id)
                result = await _flow(question, account, subject, prompt, session_id)
                result.trace_id = root.trace_id_hex
                result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
                root.set_output(result.answer)
                root.set_attributes({"support.intent": result.intent, "support.escalate": result.escalate,
                                     "support.escalation_reasons": ",".join(result.escalation_reasons),
                                     "support.blocked": result.blocked})  # fmt: skip
        finally:
            _CURRENT.reset(token)
        if wait and result.trace_id:
            result.stored = await asyncio.to_thread(self.wait_stored, result.trace_id, result.model is not None)
        return result

    def wait_stored(self, trace_id: str, with_gateway: bool, timeout_s: float = 20.0) -> bool:
        """Flush this process' spans and poll the store until the trace has the root, the steps and (when the
        model was called) the gateway's span."""
        from stackwright.sdk.observe import flush

        flush(timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.http.get(f"/api/v1/traces/{trace_id}")
            if response.status_code == 200:
                names = [s.get("name", "") for s in response.json()["spans"]]
                has_root = ROOT_SPAN in names
                has_gateway = not with_gateway or any(n.startswith("gateway chat") for n in names)
                if has_root and has_gateway:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def current_app() -> SupportApp:
    app = _CURRENT.get()
    if app is None:
        raise RuntimeError("a support step ran outside SupportApp.arun()")
    return app


def check_question(question: Any) -> str:
    if not isinstance(question, str):
        raise InvalidInput(f"The question must be text, not {type(question).__name__}.")
    text = question.strip()
    if not text:
        raise InvalidInput("The question is empty.", hint='Ask something, e.g. "How do I reset my password?".')
    if len(text) > MAX_QUESTION_CHARS:
        raise InvalidInput(f"The question has {len(text)} characters; the assistant takes at most {MAX_QUESTION_CHARS}.")
    return text


def demo_key(home: Path | str) -> str | None:
    """The demo API key `stackwright demo seed` stored in the data dir (None before the seed)."""
    from stackwright.apps.support.seed import read_demo_credentials

    return read_demo_credentials(Path(home)).get("STACKWRIGHT_API_KEY")


# -- the steps ------------------------------------------------------------------------------------------------
def _decisions_summary(result: dict[str, Any], direction: str) -> list[str]:
    return [f"{direction}:{d.get('check')}" for d in result.get("decisions") or [] if d.get("triggered")]


@step(name="guard_input", retries=1, backoff_s=0.05)
def guard_input(question: str) -> dict:
    """The route's input checks: injection blocked, secrets and PII redacted before anything else sees them."""
    app = current_app()
    result = app.api("POST", "/api/v1/guardrails/check", json={"text": question, "policy": POLICY, "direction": "input"}).json()
    triggered = _decisions_summary(result, "input")
    _annotate({"guardrail.policy": POLICY, "guardrail.blocked": bool(result["blocked"]), "guardrail.triggered": ",".join(triggered)})
    return {"text": result["text"], "blocked": bool(result["blocked"]), "triggered": triggered,
            "reasons": [r for d in result.get("decisions") or [] if d.get("triggered") for r in d.get("reasons") or []]}  # fmt: skip


@step(name="classify_intent")
def classify_intent(request: dict) -> dict:
    """Keyword rules (offline, deterministic): intent, mood, and whether a human was asked for."""
    result = classify(request["question"])
    _annotate({"support.intent": result["intent"], "support.sentiment": result["sentiment"]})
    return result


@step(name="lookup_account", retries=1, backoff_s=0.05)
def lookup_account(request: dict) -> dict:
    """The account tool: plan, seats and status from the demo accounts database."""
    from stackwright.sdk.observe import observe

    ref = request.get("account")
    if not ref:
        return {"found": False, "account": None}
    with observe("accounts.find", kind="tool", capture_input=False, capture_output=False) as tool:
        tool.set_input({"account": ref})
        account = current_app().accounts.find(ref)
        tool.set_output({k: account[k] for k in ("id", "plan", "seats", "status", "notes")})
    _annotate({"support.account": account["id"], "support.account_status": account["status"], "support.plan": account["plan"]})
    return {"found": True, "account": account}


@step(name="retrieve", retries=1, backoff_s=0.05)
def retrieve(question: str) -> dict:
    """Hybrid search + context assembly (numbered sources with citation ids), and the best chunk's cosine
    (vector search) as the retrieval score the escalation rules read."""
    from stackwright.sdk.observe.span import current_span

    app = current_app()
    parent = current_step().trace_headers().get("traceparent")
    extra = {"traceparent": parent} if parent else {}
    ctx = app.api("POST", f"/api/v1/collections/{COLLECTION}/context",
                  json={"query": question, "budget_tokens": CONTEXT_BUDGET_TOKENS, "k": 6, **extra}).json()  # fmt: skip
    best = app.api("POST", f"/api/v1/collections/{COLLECTION}/search", json={"query": question, "k": 1, "mode": "vector", **extra}).json()
    top = (best.get("data") or [{}])[0]
    score = float(top["score"]) if top.get("score") is not None else None
    citations = [{"id": c["id"], "source": c.get("source"), "title": c.get("title"), "chunk_id": c.get("chunk_id"),
                  "score": c.get("score")} for c in ctx.get("citations") or []]  # fmt: skip
    span = current_span()
    span.set_documents({"id": c["chunk_id"], "content": f"[{c['id']}] {c['title']} ({c['source']})", "score": c["score"]} for c in citations)
    _annotate({"retrieval.top_score": score if score is not None else -1.0, "retrieval.sources": ",".join(c["source"] or "" for c in citations)})
    return {"context": ctx.get("context") or "", "citations": citations, "score": score, "tokens": ctx.get("tokens")}


def _answer_fallback(request: dict) -> dict:
    return {"answer": ANSWER_FAILED, "failed": True, "blocked": False, "model": None, "prompt": None, "arm": None}


@step(name="answer", retries=1, backoff_s=0.1, fallback=_answer_fallback)
def answer(request: dict) -> dict:
    """The model call through the gateway: the release route picks prompt version and model (or the
    given prompt, for evals); the gateway's own span (with the rendered prompt) sits under this step."""
    app = current_app()
    variables = {"context": request["context"] or "(no sources found)", "question": request["question"]}
    headers = dict(current_step().trace_headers())
    if request.get("session_id"):
        headers["x-stackwright-session-id"] = request["session_id"]
    if request.get("prompt"):
        body = {"model": f"prompt:{request['prompt']}", "variables": variables, "user": request["subject"]}
        headers["x-stackwright-route"] = ROUTE  # the route's guardrail policy still applies
        arm, config = "eval", {"prompt": request["prompt"]}
    else:
        resolved = app.api("GET", f"/api/v1/releases/{ROUTE}/resolve",
                           params={"env": app.environment, "subject": request["subject"]}).json()  # fmt: skip
        arm, config = resolved.get("arm"), resolved.get("config") or {}
        body = {"model": f"route:{ROUTE}@{app.environment}", "variables": variables, "user": request["subject"]}
    response = app.http.post("/v1/chat/completions", json=body, headers=headers)
    if response.status_code == 400 and _code(response) == "guardrail_blocked":
        return {"answer": REFUSAL, "failed": False, "blocked": True, "model": None, "prompt": config.get("prompt"), "arm": arm}
    if response.status_code >= 400:
        raise _api_error(response)
    current_step().add_usage(response)
    data = response.json()
    text = ((data.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
    model = response.headers.get("x-stackwright-model") or config.get("model")
    _annotate({"stackwright.release.arm": arm or "", "llm.model_name": model or "", "support.prompt": config.get("prompt") or ""})
    usage = data.get("usage") or {}
    return {"answer": text, "failed": False, "blocked": False, "model": model, "prompt": config.get("prompt"), "arm": arm,
            "tokens": int(usage.get("total_tokens") or 0),
            "cost": float(response.headers.get("x-stackwright-cost-usd") or 0.0)}  # fmt: skip


@step(name="guard_output", retries=1, backoff_s=0.05)
def guard_output(request: dict) -> dict:
    """The route's output checks on the answer (PII and secrets redacted, length flagged)."""
    app = current_app()
    result = app.api("POST", "/api/v1/guardrails/check",
                     json={"text": request["answer"], "policy": POLICY, "direction": "output", "context": request.get("context") or None}).json()  # fmt: skip
    triggered = _decisions_summary(result, "output")
    _annotate({"guardrail.policy": POLICY, "guardrail.blocked": bool(result["blocked"]), "guardrail.triggered": ",".join(triggered)})
    text = REFUSAL if result["blocked"] else result["text"]
    return {"text": text, "blocked": bool(result["blocked"]), "triggered": triggered}


@step(name="decide_escalation")
def decide_escalation(request: dict) -> dict:
    """The escalation policy (stackwright.apps.support.rules): billing disputes, security incidents,
    angry customers, a human asked for, locked or suspended accounts, low retrieval score, no answer."""
    decision = escalation(intent=request["intent"], account=request.get("account"), retrieval_score=request.get("score"),
                          answer=request.get("answer") or "", answer_failed=bool(request.get("failed")))  # fmt: skip
    _annotate({"support.escalate": decision["escalate"], "support.escalation_reasons": ",".join(decision["reasons"])})
    return decision


understand = parallel(intent=classify_intent, account=lookup_account, name="understand")


async def _flow(question: str, account: str | None, subject: str, prompt: str | None, session_id: str | None) -> SupportAnswer:
    guarded = await guard_input(question)
    if guarded["blocked"]:
        intent = classify(question)
        return SupportAnswer(answer=REFUSAL, trace_id="", question=question, intent=intent["intent"], escalate=False,
                             escalation_reasons=[], blocked=True, citations=[], account=None, retrieval_score=None,
                             guardrails=guarded["triggered"])  # fmt: skip
    text = guarded["text"]
    understood = await understand({"question": text, "account": account})
    found = understood["account"]["account"]
    retrieved = await retrieve(text)
    answered = await answer({"question": text, "context": retrieved["context"], "subject": subject, "prompt": prompt,
                             "session_id": session_id})  # fmt: skip
    triggered = list(guarded["triggered"])
    if answered["blocked"]:
        final, checked_blocked = REFUSAL, True
    else:
        checked = await guard_output({"answer": answered["answer"], "context": retrieved["context"]})
        final, checked_blocked = checked["text"], checked["blocked"]
        triggered += checked["triggered"]
    decision = await decide_escalation({"intent": understood["intent"], "account": found, "score": retrieved["score"],
                                        "answer": answered["answer"], "failed": answered["failed"]})  # fmt: skip
    if checked_blocked:
        decision = {"escalate": False, "reasons": []}
    cited = _cited(final, retrieved["citations"])
    shown = final
    if decision["escalate"]:
        shown = f"{final}\n\n{HANDOFF}" if final and final != ANSWER_FAILED else HANDOFF
    prompt_ref = answered.get("prompt")
    return SupportAnswer(
        answer=shown, trace_id="", question=question, intent=understood["intent"]["intent"], escalate=decision["escalate"],
        escalation_reasons=decision["reasons"], blocked=checked_blocked, citations=cited,
        account=_public_account(found), retrieval_score=retrieved["score"], prompt=prompt_ref,
        prompt_version=prompt_ref.rpartition("@")[2] if prompt_ref else None, model=answered.get("model"),
        release_arm=answered.get("arm"), guardrails=triggered, cost_usd=float(answered.get("cost") or 0.0),
        tokens=int(answered.get("tokens") or 0), retrieved=retrieved["citations"],
    )  # fmt: skip


_CITE_RE = re.compile(r"\[(\d{1,3})\]")


def _cited(text: str, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sources the answer cites (``[2]``), in order; none cited: none."""
    by_id = {c["id"]: c for c in citations}
    seen: list[dict[str, Any]] = []
    for match in _CITE_RE.finditer(text or ""):
        c = by_id.get(int(match.group(1)))
        if c is not None and c not in seen:
            seen.append(c)
    return seen


def _public_account(account: dict[str, Any] | None) -> dict[str, Any] | None:
    if not account:
        return None
    return {k: account[k] for k in ("id", "name", "plan", "seats", "status")}


def _annotate(attributes: dict[str, Any]) -> None:
    from stackwright.sdk.observe.span import current_span

    current_span().set_attributes(attributes)


def _code(response: Any) -> str | None:
    try:
        return (response.json().get("error") or {}).get("code")
    except Exception:  # noqa: BLE001
        return None


def _api_error(response: Any) -> StackwrightError:
    """The server's error as a StackwrightError with its status, code and message."""
    from stackwright.core import errors

    try:
        error = response.json().get("error") or {}
    except Exception:  # noqa: BLE001
        error = {}
    message = error.get("message") or f"{response.request.method} {response.request.url.path} answered {response.status_code}"
    cls = {400: errors.InvalidInput, 404: errors.NotFound, 409: errors.Conflict}.get(response.status_code, StackwrightError)
    exc = cls(message, details=error.get("details"), code=error.get("code"))
    exc.status = response.status_code
    return exc


def ask(question: str, *, user_id: str | None = None, account: str | None = None, session_id: str | None = None,
        settings: Any = None, base_url: str | None = None, api_key: str | None = None,
        prompt: str | None = None) -> SupportAnswer:  # fmt: skip
    """Run the support flow once through the whole stack; the spans are stored (flushed and read back)
    before this returns. ``result.trace_id`` and ``result.answer`` are the main fields.

    In this process on the configured database (``settings``, default ``Settings()``) unless ``base_url``
    names a running server. The key is ``api_key``, else the one `stackwright demo seed` stored."""
    support = SupportApp.connect(base_url, api_key, settings) if base_url else SupportApp.in_process(settings, api_key)
    try:
        support.warm()
        return support.run(question, user_id=user_id, account=account, session_id=session_id, prompt=prompt)
    finally:
        support.close()
