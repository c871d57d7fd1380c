"""local/extractive: answers only from the context, with citations; refuses otherwise."""

from __future__ import annotations

import json

import pytest

from stackwright.local.embedder import count_tokens
from stackwright.local.extractive import CANNOT_ANSWER, answer_messages, cite, prompt_token_count

from .helpcenter import rag_messages


def answer(question: str, **options):
    return answer_messages(rag_messages(question), **options)


@pytest.mark.parametrize(
    ("question", "expected", "label"),
    [
        ("How long do refunds take?", "usually arrive within 5 to 7 business days [2].", "2"),
        ("Can I get a refund on a monthly plan?", "Monthly plans are not refundable", "2"),
        ("How much does the Business plan cost?", "the Business plan costs $25 per user per month [4].", "4"),
        (
            "When does a downgrade take effect?",
            "Downgrades take effect at the start of the next billing period [4].",
            "4",
        ),
        ("Do you support SMS codes for two-factor authentication?", "SMS codes are not supported", "3"),
        ("Are audit logs included in exports?", "but not audit logs [5].", "5"),
        ("How long is the download link valid?", "Download links stay valid for 7 days [5].", "5"),
    ],
)
def test_answers_from_the_right_source_with_its_citation(question, expected, label):
    result = answer(question)
    assert result.answered
    assert expected in result.text
    assert result.citations == [label]
    assert result.finish_reason == "stop"


def test_a_how_to_question_gets_the_whole_numbered_procedure():
    result = answer("How do I reset my password?")
    assert result.citations == ["1"]
    assert "To reset your password:\n1. Open the sign-in page" in result.text
    assert result.text.endswith("4. Choose a new password of at least 12 characters [1].")


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How do I delete my account?",
        "Can I pay with PayPal?",
        "Do you have a mobile app for Android?",
        "Is there a student discount?",
        "hello",
    ],
)
def test_refuses_when_the_context_does_not_support_an_answer(question):
    result = answer(question)
    assert result.text == CANNOT_ANSWER
    assert not result.answered and result.citations == []


def test_refuses_without_context_or_without_a_question():
    assert answer_messages([{"role": "user", "content": "What is the boiling point of water?"}]).text == CANNOT_ANSWER
    assert answer_messages([{"role": "system", "content": "Context: Water boils at 100 C."}]).text == CANNOT_ANSWER


def test_instructions_in_the_prompt_are_not_quoted_as_answers():
    messages = [
        {"role": "system", "content": "You are a support bot. Answer only from the context. Cite sources."},
        {"role": "user", "content": "Context: Support is open from 8 am to 6 pm on weekdays.\n\nHow do I get support?"},
    ]
    result = answer_messages(messages)
    assert result.text == "Support is open from 8 am to 6 pm on weekdays [2]."


def test_system_message_context_without_markers():
    messages = [
        {
            "role": "system",
            "content": "The office is open Monday to Friday, 9 am to 5 pm. It is closed on public holidays.",
        },
        {"role": "user", "content": "When is the office open?"},
    ]
    assert answer_messages(messages).text == "The office is open Monday to Friday, 9 am to 5 pm [1]."


def test_tool_results_answer_agent_questions():
    messages = [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "What is the status of order 1042?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"order_id": 1042, "status": "shipped"})},
    ]
    assert answer_messages(messages).text == "order id: 1042; status: shipped [2]."


def test_faq_context_answers_with_the_answer_not_the_question():
    messages = [
        {
            "role": "system",
            "content": "FAQ:\nQ: Can I change my username?\n"
            "A: Yes. Go to Profile > Edit. You can change it every 30 days.\n\n"
            "Q: Can I merge two accounts?\nA: No, accounts cannot be merged.",
        },
        {"role": "user", "content": "Is it possible to change my user name?"},
    ]
    assert answer_messages(messages).text == "Yes. Go to Profile > Edit. You can change it every 30 days [1]."


def test_sentences_from_several_sources_keep_source_order_and_their_own_citations():
    messages = [
        {
            "role": "user",
            "content": "[1] Standard shipping costs $5.\n[2] Gift wrap is free.\n[3] Express shipping costs $15.\n\n"
            "How much does shipping cost?",
        }
    ]
    result = answer_messages(messages)
    assert result.text == "Standard shipping costs $5 [1]. Express shipping costs $15 [3]."
    assert result.citations == ["1", "3"]


def test_a_pronoun_sentence_brings_the_sentence_it_refers_to():
    messages = [
        {
            "role": "user",
            "content": "Context:\nPython 3.12 was released in October 2023. It removed the distutils package.\n\n"
            "Question: Which package did Python 3.12 remove?",
        }
    ]
    result = answer_messages(messages)
    assert result.text == "Python 3.12 was released in October 2023. It removed the distutils package [1]."


def test_max_tokens_truncates_with_finish_reason_length():
    full = answer("How do I reset my password?")
    cut = answer("How do I reset my password?", max_tokens=10)
    assert cut.finish_reason == "length"
    assert full.text.startswith(cut.text) and len(cut.text) < len(full.text)
    assert cut.completion_tokens == count_tokens(cut.text) <= 10
    roomy = answer("How do I reset my password?", max_tokens=10_000)
    assert roomy.text == full.text and roomy.finish_reason == "stop"


def test_stop_sequences_end_the_answer():
    result = answer("How do I reset my password?", stop=["\n2."])
    assert result.text.endswith('1. Open the sign-in page and click "Forgot password".')
    assert result.finish_reason == "stop"


def test_usage_counts_the_messages_and_the_answer_with_the_local_tokenizer():
    messages = rag_messages("How long do refunds take?")
    result = answer_messages(messages)
    assert result.completion_tokens == count_tokens(result.text)
    assert result.prompt_tokens == prompt_token_count(messages)
    content_tokens = sum(count_tokens(m["content"]) for m in messages)
    assert content_tokens < result.prompt_tokens < content_tokens + 30
    refusal = answer("What is the capital of France?")
    assert refusal.completion_tokens == count_tokens(CANNOT_ANSWER)


def test_deterministic():
    messages = rag_messages("How do I export my projects?")
    assert len({answer_messages(messages).text for _ in range(5)}) == 1


def test_odd_shapes_tables_and_filler_do_not_break_it():
    weird = [
        {"role": "system", "content": [{"type": "text", "text": "<context><doc id='a'>x</doc></context>"}]},
        {"role": "user", "content": "| plan | price |\n|---|---|\n| Team | $12 |\n\n" + "lorem ipsum " * 400},
        {"role": "assistant", "content": None},
        {"role": "user", "content": [{"type": "text", "text": "What does the Team plan cost?"}]},
    ]
    result = answer_messages(weird)
    assert result.text == "plan: Team; price: $12 [1]."  # doc "a" keeps its label; the table is 1


def test_cite_puts_the_marker_before_the_final_punctuation():
    assert cite("Refunds take 5 days.", "1") == "Refunds take 5 days [1]."
    assert cite('Click "Save".', "2") == 'Click "Save" [2].'
    assert cite("Settings > Security", "3") == "Settings > Security [3]"
    assert cite("Steps:", "4") == "Steps [4]"
