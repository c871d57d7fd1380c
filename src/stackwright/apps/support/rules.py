"""Offline decisions of the support flow: intent by keyword rules (deterministic, explainable), the
customer's mood, and the escalation policy. No model needed; every rule names itself in ``reasons``."""

from __future__ import annotations

import re
from typing import Any

# (intent, patterns): the first intent with a matching pattern wins, so specific ones come first.
INTENTS: list[tuple[str, tuple[str, ...]]] = [
    ("security_incident", (r"\bhack(?:ed|er)?\b", r"\bcompromised\b", r"suspicious (?:log ?in|sign[- ]?in|activity)",
                           r"someone (?:else )?(?:logged|signed) in", r"\bbreach(?:ed)?\b", r"\bphishing\b")),
    ("billing_dispute", (r"charged (?:me )?twice", r"double[- ]?charged", r"\bovercharg", r"\bdisput", r"\bchargeback",
                         r"unauthori[sz]ed (?:charge|payment)", r"(?:wrong|incorrect|unexpected) (?:charge|amount|invoice)",
                         r"money back", r"charged after (?:i )?cancel")),
    ("account_access", (r"password", r"\blog ?in\b", r"\blogin\b", r"sign(?:ing)? ?in\b", r"\blocked\b", r"\b2fa\b",
                        r"two[- ]factor", r"\bsso\b", r"single sign[- ]on", r"authenticator", r"backup code", r"change (?:my )?email")),
    ("billing", (r"\binvoice", r"\bbilling\b", r"\bbilled\b", r"\bplan\b", r"\bpric", r"\brefund", r"\bpayment", r"\bcard\b",
                 r"subscription", r"\bupgrade", r"\bdowngrade", r"\bcancel", r"\bvat\b", r"sales tax", r"\bseats?\b",
                 r"\btrial\b", r"\bdiscount", r"nonprofit", r"\bcharge")),
    ("data_privacy", (r"\bexport", r"delete (?:my|all|our) (?:data|account|workspace)", r"\bgdpr\b", r"\bretention\b",
                      r"\bimport", r"\bbackup", r"storage", r"personal data", r"delete (?:the )?workspace")),
    ("integrations", (r"\bslack\b", r"\bgithub\b", r"webhook", r"\bapi\b", r"\btokens?\b", r"calendar", r"integration",
                      r"rate limit")),
    ("teams", (r"\binvite", r"\bmembers?\b", r"\bguests?\b", r"\broles?\b", r"permission", r"ownership", r"remove (?:a )?(?:user|member|someone)")),
    ("security", (r"encrypt", r"audit log", r"complian", r"\bsoc ?2\b", r"\biso\b", r"allowlist", r"\bsessions?\b",
                  r"report (?:a )?(?:security|vulnerab)")),
    ("troubleshooting", (r"\berror\b", r"not working", r"doesn'?t work", r"\bslow\b", r"\bcrash", r"\bsync", r"upload",
                         r"notification", r"mobile app", r"\boutage\b", r"\bdown\b", r"\bbug\b", r"\bbrowser\b", r"\bE\d{3,4}\b")),
    ("projects", (r"\bprojects?\b", r"\barchive", r"automation", r"recurring", r"time tracking", r"\btasks?\b")),
]
_COMPILED = [(intent, [re.compile(p, re.IGNORECASE) for p in patterns]) for intent, patterns in INTENTS]
GENERAL = "general"

_ANGER = re.compile(
    r"\b(?:angry|furious|ridiculous|unacceptable|terrible|worst|disgusting|scam|fed up|sick of|useless|pathetic|outrageous|"
    r"lawyers?|lawsuit|sue you|waste of (?:time|money)|never again|fix this now|are you kidding)\b",
    re.IGNORECASE,
)
_HUMAN = re.compile(
    r"\b(?:talk|speak|chat) (?:to|with) (?:a |an |some )?(?:human|person|agent|someone|manager|representative)|real person|"
    r"human agent|call me|phone me|your manager",
    re.IGNORECASE,
)

ESCALATE_INTENTS = {"billing_dispute": "billing_dispute", "security_incident": "security_incident"}
ESCALATE_STATUSES = {"locked": "account_locked", "suspended": "account_suspended"}
LOW_RETRIEVAL_SCORE = 0.3  # cosine of the best help-center chunk: below it the question is off the corpus
NO_ANSWER_MARKERS = ("can't answer that from the provided context", "cannot answer that from the provided context")


def classify(question: str) -> dict[str, Any]:
    """``{"intent", "matched", "sentiment", "wants_human"}`` from keyword rules."""
    intent, matched = GENERAL, None
    for name, patterns in _COMPILED:
        hit = next((p.pattern for p in patterns if p.search(question)), None)
        if hit:
            intent, matched = name, hit
            break
    letters = [c for c in question if c.isalpha()]
    shouting = len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.6
    angry = bool(_ANGER.search(question)) or shouting or "!!!" in question
    return {"intent": intent, "matched": matched, "sentiment": "angry" if angry else "neutral",
            "wants_human": bool(_HUMAN.search(question))}  # fmt: skip


def is_no_answer(answer: str) -> bool:
    lowered = (answer or "").lower()
    return any(marker in lowered for marker in NO_ANSWER_MARKERS)


def escalation(*, intent: dict[str, Any], account: dict[str, Any] | None, retrieval_score: float | None,
               answer: str, answer_failed: bool) -> dict[str, Any]:  # fmt: skip
    """Whether a human should take over, with every reason that applies (empty: the assistant's answer stands)."""
    reasons: list[str] = []
    if intent.get("intent") in ESCALATE_INTENTS:
        reasons.append(ESCALATE_INTENTS[intent["intent"]])
    if intent.get("sentiment") == "angry":
        reasons.append("angry_customer")
    if intent.get("wants_human"):
        reasons.append("human_requested")
    status = (account or {}).get("status")
    if status in ESCALATE_STATUSES:
        reasons.append(ESCALATE_STATUSES[status])
    if retrieval_score is not None and retrieval_score < LOW_RETRIEVAL_SCORE:
        reasons.append("low_retrieval_score")
    if answer_failed:
        reasons.append("answer_failed")
    elif is_no_answer(answer):
        reasons.append("no_answer_in_help_center")
    return {"escalate": bool(reasons), "reasons": reasons}
