"""Starting an eval run from the browser (`/ui/evals/new`): from a spec (the name of a spec or run whose stored
spec runs again, a run id, or the spec's YAML), or from a dataset version, a prompt version or chat messages, a
model served by the gateway, its parameters and scorers. The playground's sweep posts here too.

The run starts through the evals layer's ``launch``, the path POST /api/v1/evals/runs takes: the same checks, the
service refuses a viewer (403) and audits the start, python code runs only if the operator allows it
(``STACKWRIGHT_EVAL_PYTHON_ALLOW``), and the cases run in the background in this server. Each bad field gets a
message beside it and nothing is started; a good form redirects to the run's page, which shows its progress.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db, get_settings
from stackwright.core.errors import Forbidden, InvalidInput, NotFound
from stackwright.evals import service
from stackwright.evals.launch import launch
from stackwright.evals.spec import NAME_RE, EvalSpec, SpecError, SpecSource, parse_text, validate
from stackwright.evals.trust import CodePolicy
from stackwright.ui.dataset_picker import dataset_choices
from stackwright.ui.evals import EVALS, can_start
from stackwright.ui.pages import UserDep, WebUser, check_csrf, page_router, render
from stackwright.ui.settings import web_actor

router = page_router()
NEW = EVALS + "/new"
FIELDS = ("spec", "dataset", "dataset_version", "prompt", "prompt_version", "messages", "model", "params", "name")
MAX_FIELD = 100_000
FORM_SOURCE = "<form>"
LABELS = {"messages": "Messages", "params": "Parameters"}


async def _form(request: Request) -> tuple[dict[str, str], list[str]]:
    """The posted fields (first value of each, cut to MAX_FIELD) and the repeated ``scorers`` field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = parse_qs(body, keep_blank_values=True)
    values = {name: (fields.get(name) or [""])[0][:MAX_FIELD].strip() for name in (*FIELDS, "csrf_token")}
    scorers = [s.strip() for s in fields.get("scorers", []) if s.strip()][:50]
    return values, scorers


async def _chat_models(request: Request, project_id: str) -> list[str]:
    from stackwright.gateway.catalog import describe

    project = await request.app.state.gateway.catalog.get(project_id)
    return [m["name"] for m in describe(project) if m["kind"] != "embedding"]


def _scorer_names() -> list[str]:
    from stackwright.core.plugins import scorers
    from stackwright.evals.scorers import ensure_builtins

    ensure_builtins()
    return scorers.names()


def _offered_scorers() -> list[str]:
    """The scorers the form offers: those that work without parameters (others need a spec)."""
    from stackwright.evals.scorers import build
    from stackwright.evals.spec import ScorerSpec

    offered = []
    for name in _scorer_names():
        try:
            build(ScorerSpec(type=name), CodePolicy(False))
        except Exception:  # noqa: BLE001 - a scorer that needs parameters, or a plugin that cannot be built here
            continue
        offered.append(name)
    return offered


async def _page(request: Request, user: WebUser, values: dict[str, str], scorers: list[str], status: int = 200,
                errors: dict[str, str] | None = None, problem: str | None = None) -> Response:  # fmt: skip
    with get_db(request).read() as session:
        datasets = dataset_choices(session, user.project_id) if user.project else []
    models = await _chat_models(request, user.project_id) if user.project else []
    return render(request, "eval_new.html", status, user=user, values=values, chosen=set(scorers), errors=errors or {}, problem=problem,
                  datasets=datasets, models=models, scorer_names=_offered_scorers(), can_start=can_start(user))  # fmt: skip


@router.get(NEW)
async def new_run_form(request: Request, user: UserDep) -> Response:
    query = request.query_params
    values = {name: (query.get(name) or "")[:MAX_FIELD] for name in FIELDS}
    if query.get("version") and not values["prompt_version"]:
        values["prompt_version"] = query["version"][:12]  # the playground's ?prompt=&version= links
    return await _page(request, user, values, query.getlist("scorers") or ["contains"])


def _int(value: str, field: str, errors: dict[str, str]) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 2**31 - 1:
        errors[field] = f"{field.replace('_', ' ').capitalize()} must be a whole number from 1, not {value[:20]!r}."
        return None
    return int(value)


def _json(value: str, field: str, kind: type, errors: dict[str, str]) -> Any:
    if not value:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        errors[field] = f"{LABELS[field]} are not valid JSON: {exc}."
        return None
    if not isinstance(parsed, kind):
        errors[field] = f"{LABELS[field]} must be a JSON {'list of chat messages' if kind is list else 'object'}."
        return None
    return parsed


def _check_messages(messages: list[Any], errors: dict[str, str]) -> None:
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or "content" not in m:
            errors["messages"] = f"Message {i + 1} must be an object with a role and a content, e.g. {{\"role\": \"user\", \"content\": \"...\"}}."
            return


def _spec_name(values: dict[str, str]) -> str:
    base = values["name"] or "-".join(v for v in (values["dataset"], values["prompt"] or values["model"]) if v)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-._")[:128] or "ui-eval"


def _built_spec(session: Any, project_id: str, values: dict[str, str], scorers: list[str], models: list[str],
                errors: dict[str, str]) -> dict[str, Any] | None:  # fmt: skip
    """The spec the form's fields describe, or None with ``errors`` naming each bad field."""
    from stackwright.datasets.service import get_dataset, get_dataset_version
    from stackwright.prompts.service import find_version

    dataset_version = _int(values["dataset_version"], "dataset_version", errors)
    prompt_version = _int(values["prompt_version"], "prompt_version", errors)
    messages, params = _json(values["messages"], "messages", list, errors), _json(values["params"], "params", dict, errors)
    dataset = values["dataset"]
    if not dataset:
        errors["dataset"] = "Choose the dataset to run over."
    else:
        field = "dataset"
        try:
            get_dataset(session, project_id, dataset)
            field = "dataset_version"  # the dataset exists: what is missing is the version
            if field not in errors:
                dataset = get_dataset_version(session, project_id, f"{dataset}@{dataset_version or 'latest'}", with_items=False).ref
        except (NotFound, InvalidInput) as exc:
            errors[field] = exc.message
    prompt = values["prompt"] + (f"@{prompt_version}" if prompt_version else "")
    if values["prompt"] and "prompt_version" not in errors:
        try:
            found = find_version(session, project_id, prompt)
            prompt = f"{found.prompt.name}@{found.version}"
        except (NotFound, InvalidInput) as exc:
            errors["prompt"] = exc.message
    elif prompt_version and not values["prompt"]:
        errors["prompt"] = "A prompt version needs the prompt's name."
    if not values["model"] and not values["prompt"]:
        errors["model"] = "Choose a model (or a prompt, whose model is used)."
    elif values["model"] and values["model"] not in models:
        errors["model"] = f"The gateway serves no chat model {values['model'][:200]!r}; this project serves: {', '.join(models) or 'none'}."
    if messages is not None and not values["prompt"]:
        _check_messages(messages, errors)
    known = set(_scorer_names())
    unknown = [s for s in scorers if s not in known]
    if not scorers:
        errors["scorers"] = "Choose at least one scorer."
    elif unknown:
        errors["scorers"] = f"Unknown scorer {unknown[0][:100]!r}; known scorers: {', '.join(sorted(known))}."
    if errors:
        return None
    target: dict[str, Any] = {"prompt": prompt} if values["prompt"] else {}
    if values["model"]:
        target["model"] = values["model"]
    if params:
        target["params"] = params
    if messages and not values["prompt"]:
        target["messages"] = messages
    return {"name": _spec_name(values), "dataset": dataset, "target": target, "scorers": scorers}


def _stored_spec(session: Any, project_id: str, ref: str, policy: CodePolicy) -> EvalSpec:
    """A spec given by name: the stored spec of the newest run of that spec (or run) name, or of that run id."""
    try:
        run = service.find_run(session, project_id, ref)
        stored = service.run_payload(run, with_spec=True)
    except NotFound:
        found = service.list_runs(session, project_id, name=ref, limit=1, with_spec=True)
        if not found:
            raise InvalidInput(f"No eval spec or run named {ref[:200]!r} in this project.",
                               hint="Give the name of a spec that has run before, a run id, or paste the spec's YAML.") from None  # fmt: skip
        stored = found[0]
    return validate(dict(stored["spec"]), SpecSource(f"<spec {stored['spec_name']}>", None), policy)


def _field_of(exc: SpecError) -> str:
    field = str((exc.details or {}).get("field") or "")
    head = re.split(r"[.\[]", field)[0]
    return {"dataset": "dataset", "scorers": "scorers", "gate": "scorers", "target": "model"}.get(head, "")


@router.post(NEW)
async def start_run(request: Request, user: UserDep) -> Response:
    values, scorers = await _form(request)
    check_csrf(user.csrf_token, values.pop("csrf_token"))
    actor = web_actor(request, user)
    service.check_can_start(actor)  # a viewer's forged post: a 403 page, nothing read or started
    policy = CodePolicy.server(get_settings(request))
    errors: dict[str, str] = {}
    if values["name"] and not NAME_RE.match(values["name"]):
        errors["name"] = "A run name has letters, digits, '.', '_' or '-' (at most 128), starting with a letter or digit."
    models = await _chat_models(request, user.project_id)
    try:
        with get_db(request).read() as session:
            loaded: EvalSpec | None
            if values["spec"]:
                spec = values["spec"]
                loaded = parse_text(spec, FORM_SOURCE, policy) if ("\n" in spec or ":" in spec) else _stored_spec(session, user.project_id, spec, policy)
            else:
                raw = _built_spec(session, user.project_id, values, scorers, models, errors)
                loaded = validate(raw, SpecSource(FORM_SOURCE, None), policy) if raw is not None else None
        if loaded is None or errors:
            return await _page(request, user, values, scorers, 400, errors)
        prepared = await launch(request.app.state, actor, user.project_id, loaded, name=values["name"] or None)
    except SpecError as exc:
        field = "spec" if values["spec"] else _field_of(exc)
        if field:
            return await _page(request, user, values, scorers, 400, {field: exc.message})
        return await _page(request, user, values, scorers, 400, problem=exc.message)
    except InvalidInput as exc:
        return await _page(request, user, values, scorers, 400, {"spec": exc.message} if values["spec"] else {}, None if values["spec"] else exc.message)
    except Forbidden as exc:  # python code the operator's allow-list does not name: shown, nothing started
        if exc.code != "python_not_allowed":
            raise
        return await _page(request, user, values, scorers, 403, {"spec": exc.message} if values["spec"] else {}, None if values["spec"] else exc.message)
    return RedirectResponse(f"{EVALS}/{prepared.run_id}", status_code=303)
