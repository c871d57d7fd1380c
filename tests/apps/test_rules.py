"""The offline decisions: intent keyword rules, mood, and the escalation policy."""

from __future__ import annotations

import pytest

from stackwright.apps.support.rules import LOW_RETRIEVAL_SCORE, classify, escalation


@pytest.mark.parametrize(("question", "intent"), [
    ("How do I reset my password?", "account_access"),
    ("I was charged twice this month", "billing_dispute"),
    ("Where can I download my invoices?", "billing"),
    ("How do I connect Slack?", "integrations"),
    ("My account was hacked", "security_incident"),
    ("the desktop app is stuck on syncing", "troubleshooting"),
    ("What is the meaning of life", "general"),
])  # fmt: skip
def test_intent_rules(question: str, intent: str) -> None:
    assert classify(question)["intent"] == intent


def test_mood_and_human_requests() -> None:
    assert classify("This is RIDICULOUS, nothing works")["sentiment"] == "angry"
    assert classify("WHY IS SYNC BROKEN AGAIN")["sentiment"] == "angry"
    assert classify("How do I export a project?")["sentiment"] == "neutral"
    assert classify("Can I speak to a human please")["wants_human"] is True


def _decide(question: str, *, account: dict | None = None, score: float = 0.7, answer: str = "Do X [1].", failed: bool = False) -> dict:
    return escalation(intent=classify(question), account=account, retrieval_score=score, answer=answer, answer_failed=failed)


def test_escalation_reasons() -> None:
    assert _decide("How do I reset my password?") == {"escalate": False, "reasons": []}
    assert _decide("I want to dispute a charge")["reasons"] == ["billing_dispute"]
    assert _decide("How do I reset my password?", account={"status": "locked"})["reasons"] == ["account_locked"]
    assert _decide("How do I export?", account={"status": "suspended"})["reasons"] == ["account_suspended"]
    assert _decide("How do I export?", account={"status": "past_due"})["escalate"] is False
    assert _decide("poem please", score=LOW_RETRIEVAL_SCORE - 0.01)["reasons"] == ["low_retrieval_score"]
    assert _decide("How?", answer="I can't answer that from the provided context.")["reasons"] == ["no_answer_in_help_center"]
    assert _decide("How?", failed=True)["reasons"] == ["answer_failed"]
    both = _decide("This is unacceptable, I was charged twice")
    assert both["escalate"] and set(both["reasons"]) == {"billing_dispute", "angry_customer"}
