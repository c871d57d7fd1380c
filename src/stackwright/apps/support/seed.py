"""`stackwright demo seed`: set up the support app in the configured database, idempotently.

Project and admin (the first-start bootstrap), a demo API key (stored in ``<data dir>/demo-credentials.env``,
mode 0600; the database keeps only its hash), the help-center corpus ingested into the ``help-center``
collection, the gateway config, the guardrail policy of the route, the answer prompt's two versions with
labels, the release route ``support.answer`` in production (stable v1, canary v2 at 20 %), the dataset
``support-cases``, a few hundred traced requests from the traffic generator, and finished eval runs of
stable and canary (so a comparison exists). A second seed skips everything (``force=True`` redoes it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackwright.apps.support.accounts import ASSETS

DEMO_CREDENTIALS = "demo-credentials.env"
SEEDED_META = "demo.support.seeded_at"
KEY_NAME = "support demo key"
DATASET = "support-cases"
STABLE_SHARE_PROMPT = "support-answer@1"
CANARY_PROMPT = "support-answer@2"
CANARY_SHARE = 20.0
MODEL = "support-model"
EVAL_SPEC = ASSETS / "eval.yaml"
EVAL_STABLE = "support-eval-stable"
EVAL_CANARY = "support-eval-canary"
DEFAULT_REQUESTS = 300

Progress = Callable[[str], None]


@dataclass
class SeedReport:
    skipped: bool = False
    project: str = ""
    base_url: str = ""
    api_key: str | None = None
    credentials_file: str | None = None
    admin_email: str | None = None
    admin_password_file: str | None = None
    steps: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- the demo key file ----------------------------------------------------------------------------------------
def credentials_path(home: Path) -> Path:
    return Path(home) / DEMO_CREDENTIALS


def read_demo_credentials(home: Path) -> dict[str, str]:
    """``{STACKWRIGHT_API_KEY, STACKWRIGHT_BASE_URL, STACKWRIGHT_PROJECT}`` from the demo file, {} without one."""
    path = credentials_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def write_demo_credentials(home: Path, values: dict[str, str]) -> Path:
    path = credentials_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# The support demo's API key (made by `stackwright demo seed`). Keep this file secret.",
             *(f"{k}={v}" for k, v in values.items())]  # fmt: skip
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def _valid_key(db: Any, raw: str | None, project_id: str) -> bool:
    if not raw:
        return False
    from stackwright.auth import keys

    try:
        with db.read() as session:
            key, project = keys.authenticate(session, f"Bearer {raw}")
            return project.id == project_id and "admin" in (key.scopes or [])
    except Exception:  # noqa: BLE001 - unknown, revoked or expired: make a new one
        return False


def ensure_demo_key(db: Any, settings: Any) -> tuple[str, str, bool]:
    """(raw key, project name, created): the stored demo key if it still works, else a new admin key."""
    from stackwright.auth import keys, service
    from stackwright.auth.actors import cli_actor

    with db.read() as session:
        project = service.find_project(session, settings.init_project)
        project_id, project_name = project.id, project.name
    stored = read_demo_credentials(settings.home).get("STACKWRIGHT_API_KEY")
    if stored and _valid_key(db, stored, project_id):
        return stored, project_name, False
    with db.write() as session:
        admin = next((u for u in service.list_users(session) if u.is_admin), None)
        _, raw = keys.create_key(session, cli_actor(), project_id, KEY_NAME, ["admin"], user_id=admin.id if admin else None)
    write_demo_credentials(settings.home, {"STACKWRIGHT_BASE_URL": f"http://{settings.host}:{settings.port}",
                                           "STACKWRIGHT_PROJECT": project_name, "STACKWRIGHT_API_KEY": raw})  # fmt: skip
    return raw, project_name, True


# -- assets ---------------------------------------------------------------------------------------------------
def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def prompt_files() -> list[Path]:
    return sorted((ASSETS / "prompts").glob("support-answer.v*.yaml"))


def dataset_path() -> Path:
    return ASSETS / "dataset.jsonl"


def corpus_documents() -> list[dict[str, Any]]:
    from stackwright.retrieval.sample import category, corpus_dir

    docs = []
    for path in sorted(corpus_dir("help-center").glob("*.md")):
        # the "Related articles" list at the end of each article only names other articles: left out, it
        # would be quoted as an answer ("- Reset a forgotten password [5]") and pull unrelated chunks in
        text = path.read_text(encoding="utf-8").split("\n## Related articles", 1)[0].rstrip() + "\n"
        title = text.splitlines()[0].lstrip("# ").strip() if text else path.stem
        docs.append({"source": path.name, "title": title, "text": text, "metadata": {"category": category(path.name)}})
    return docs


# -- the seed -------------------------------------------------------------------------------------------------
def is_seeded(db: Any) -> str | None:
    from stackwright.core.meta import get_meta

    with db.read() as session:
        value = get_meta(session, SEEDED_META)
    return str(value) if value else None


def seed(settings: Any = None, *, force: bool = False, requests: int = DEFAULT_REQUESTS, evals: bool = True,
         concurrency: int = 4, progress: Progress | None = None) -> SeedReport:  # fmt: skip
    """Set up the support demo (see the module docstring); returns what was done and how to log in."""
    from stackwright.core.config import Settings
    from stackwright.server.startup import prepare

    say = progress or (lambda message: None)
    started = time.perf_counter()
    settings = settings or Settings()
    db, boot = prepare(settings)
    try:
        report = SeedReport(base_url=f"http://{settings.host}:{settings.port}")
        if boot is not None:
            report.admin_email = boot.admin_email
            report.admin_password_file = str(boot.credentials_file) if boot.credentials_file else None
        else:
            report.admin_email = _admin_email(db)
            first_start = Path(settings.home) / "initial-credentials.env"
            report.admin_password_file = str(first_start) if first_start.exists() else None
        raw, project, created = ensure_demo_key(db, settings)
        report.project, report.api_key, report.credentials_file = project, raw, str(credentials_path(settings.home))
        say(f"demo key {'created' if created else 'kept'}: {report.credentials_file}")
        when = is_seeded(db)
        if when and not force:
            report.skipped = True
            report.steps["seeded_at"] = when
            say(f"already seeded at {when}; nothing to do (use --force to seed again)")
            return report
        _seed_data(db, settings, raw, report, requests=requests, evals=evals, concurrency=concurrency, say=say)
        from stackwright.core.clock import utcnow
        from stackwright.core.meta import set_meta

        with db.write() as session:
            set_meta(session, SEEDED_META, utcnow().isoformat())
        return report
    finally:
        report.seconds = round(time.perf_counter() - started, 1)
        db.dispose()


def _admin_email(db: Any) -> str | None:
    from stackwright.auth import service

    with db.read() as session:
        admin = next((u for u in service.list_users(session) if u.is_admin), None)
        return admin.email if admin else None


def _seed_data(db: Any, settings: Any, key: str, report: SeedReport, *, requests: int, evals: bool, concurrency: int,
               say: Progress) -> None:  # fmt: skip
    from stackwright.apps.support.app import SupportApp

    support = SupportApp.in_process(settings, key, db=db)
    try:
        steps = report.steps
        t = time.perf_counter()
        steps["gateway"] = apply_gateway(support)
        steps["guardrails"] = apply_policy(support)
        say(f"gateway config revision {steps['gateway'].get('revision')} and guardrail policy support-guard applied")
        steps["corpus"] = ingest_corpus(support)
        say(f"help-center corpus: {steps['corpus']['documents']} articles, {steps['corpus']['chunks_added']} new chunks "
            f"({time.perf_counter() - t:.1f} s)")  # fmt: skip
        steps["prompts"] = push_prompts(support)
        steps["release"] = set_release(support)
        say(f"prompts {', '.join(steps['prompts'])}; release support.answer@production: stable {STABLE_SHARE_PROMPT}, "
            f"canary {CANARY_PROMPT} at {CANARY_SHARE:g} %")  # fmt: skip
        steps["dataset"] = import_dataset(support)
        say(f"dataset {DATASET}@{steps['dataset'].get('version')}: {steps['dataset'].get('items')} cases")
        if requests:
            from stackwright.apps.support.traffic import run_traffic

            t = time.perf_counter()
            summary = run_traffic(support, requests, concurrency=concurrency, progress=say)
            steps["traffic"] = summary
            say(f"traffic: {summary['requests']} traced requests in {time.perf_counter() - t:.1f} s "
                f"({summary['escalated']} escalated, {summary['blocked']} blocked, {summary['errors']} errors)")  # fmt: skip
        if evals:
            from stackwright.apps.support.evaluation import run_eval

            for name, prompt in ((EVAL_STABLE, "support-answer@production"), (EVAL_CANARY, "support-answer@canary")):
                t = time.perf_counter()
                summary = run_eval(support, name=name, prompt=prompt)
                steps.setdefault("evals", {})[name] = summary
                say(f"eval {name}: {summary['status']}, gate {'passed' if summary['gate_passed'] else 'FAILED'} "
                    f"({summary['cases']} cases, {time.perf_counter() - t:.1f} s)")  # fmt: skip
    finally:
        support.close()


# What the demo charges for its local models (USD per million tokens, like a small hosted model), so
# cost per request and per step show real figures; a project's price overrides are how anyone does this.
DEMO_PRICES = {
    "support-model": {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
    "support-fallback": {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
}


def apply_gateway(support: Any) -> dict[str, Any]:
    config = load_yaml(ASSETS / "gateway.yaml")
    result = support.api("PUT", "/api/v1/gateway/config", json={"config": config}).json()
    prices = support.api("GET", "/api/v1/traces/settings").json().get("prices") or {}
    support.api("PUT", "/api/v1/traces/settings", json={"prices": {**prices, **DEMO_PRICES}})
    return {"revision": result.get("revision"), "models": [m["name"] for m in config["models"]], "prices": DEMO_PRICES}


def apply_policy(support: Any) -> dict[str, Any]:
    from stackwright.guardrails.policy import load_file

    policy = load_file(ASSETS / "guardrails.yaml").as_dict()
    name = policy.pop("name")
    result = support.api("PUT", f"/api/v1/guardrails/policies/{name}", json=policy).json()
    return {"name": name, "state": result.get("state")}


def ingest_corpus(support: Any) -> dict[str, Any]:
    from stackwright.apps.support.app import COLLECTION

    if support.http.get(f"/api/v1/collections/{COLLECTION}").status_code == 404:
        support.api("POST", "/api/v1/collections", json={"name": COLLECTION, "description": "Acme Cloud help center (support demo)"})
    docs = corpus_documents()
    result = support.api("POST", f"/api/v1/collections/{COLLECTION}/documents", json={"documents": docs}).json()
    return {"documents": len(docs), "chunks_added": result.get("chunks_added", 0), "failures": result.get("failures") or []}


def push_prompts(support: Any) -> list[str]:
    """Push v1 then v2 (each file carries its label), unless the prompt already has versions."""
    from stackwright.apps.support.app import PROMPT

    existing = support.http.get(f"/api/v1/prompts/{PROMPT}/versions")
    if existing.status_code == 200 and existing.json().get("data"):
        return [f"{PROMPT}@{v['version']}" for v in reversed(existing.json()["data"])]
    pushed = []
    labels = {1: ["production"], 2: ["canary"]}
    for index, path in enumerate(prompt_files(), 1):
        body = load_yaml(path)
        body.setdefault("labels", labels.get(index, []))
        result = support.api("POST", "/api/v1/prompts", json=body).json()
        pushed.append(f"{PROMPT}@{result.get('version')}")
    return pushed


def set_release(support: Any) -> dict[str, Any]:
    from stackwright.apps.support.app import ENVIRONMENT, ROUTE

    stable = support.api("POST", f"/api/v1/releases/{ROUTE}/set",
                         json={"env": ENVIRONMENT, "prompt": STABLE_SHARE_PROMPT, "model": MODEL}).json()  # fmt: skip
    status = support.api("GET", f"/api/v1/releases/{ROUTE}", params={"env": ENVIRONMENT}).json()
    candidate = status.get("candidate") or {}
    if (candidate.get("config") or candidate).get("prompt") != CANARY_PROMPT:
        support.api("POST", f"/api/v1/releases/{ROUTE}/canary",
                    json={"env": ENVIRONMENT, "prompt": CANARY_PROMPT, "share": CANARY_SHARE, "mode": "canary", "model": MODEL,
                          "require_eval": EVAL_CANARY})  # fmt: skip
    return {"route": ROUTE, "env": ENVIRONMENT, "stable": STABLE_SHARE_PROMPT, "canary": CANARY_PROMPT, "share": CANARY_SHARE,
            "revision": stable.get("revision")}  # fmt: skip


def import_dataset(support: Any) -> dict[str, Any]:
    content = dataset_path().read_bytes()
    result = support.api("POST", f"/api/v1/datasets/{DATASET}/import", content=content,
                         params={"message": "support demo cases"}, headers={"Content-Type": "application/x-ndjson"}).json()  # fmt: skip
    version = result.get("version")
    if isinstance(version, dict):
        version = version.get("version")
    return {"version": version, "items": sum(1 for line in content.splitlines() if line.strip()), "created": result.get("created")}


def dataset_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in dataset_path().read_text(encoding="utf-8").splitlines() if line.strip()]
