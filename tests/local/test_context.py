"""Finding the question and the context sources in chat messages, and cutting sources into units."""

from __future__ import annotations

import json

from stackwright.local.context import message_text, read_conversation, split_question
from stackwright.local.sentences import split_sentences, split_units

from .helpcenter import rag_messages


def sources_of(messages):
    return [(s.label, s.text) for s in read_conversation(messages).sources]


def test_numbered_sources_keep_their_labels_and_the_question_marker_wins():
    conversation = read_conversation(rag_messages("How long do refunds take?"))
    assert conversation.question == "How long do refunds take?"
    labels = [s.label for s in conversation.sources if not s.from_prompt]
    assert labels == ["1", "2", "3", "4", "5"]
    by_label = {s.label: s.text for s in conversation.sources}
    assert by_label["2"].startswith("Refund policy\nWe offer a full refund")
    assert all("How long do refunds take" not in s.text for s in conversation.sources)


def test_anthropic_style_document_tags():
    text = (
        '<documents>\n<document index="1">\n<source>kb/shipping.md</source>\n'
        "<document_content>Standard shipping takes 3-5 business days.</document_content>\n</document>\n"
        '<document index="2"><document_content>Returns are accepted within 14 days.</document_content></document>\n'
        "</documents>\n\nHow long does shipping take?"
    )
    conversation = read_conversation([{"role": "user", "content": text}])
    assert conversation.question == "How long does shipping take?"
    assert [(s.label, s.text, s.title) for s in conversation.sources] == [
        ("1", "Standard shipping takes 3-5 business days.", "kb/shipping.md"),
        ("2", "Returns are accepted within 14 days.", ""),
    ]


def test_context_tag_and_header_blocks_are_numbered_in_order():
    messages = [
        {"role": "system", "content": "<context>The office opens at 9 am.</context>"},
        {"role": "user", "content": "Context: Parking is free for visitors.\n\nWhen does the office open?"},
    ]
    conversation = read_conversation(messages)
    assert conversation.question == "When does the office open?"
    assert sources_of(messages) == [("1", "The office opens at 9 am."), ("2", "Parking is free for visitors.")]


def test_source_word_markers_and_bracket_labels():
    text = "Sources:\nSource 1: Plans renew yearly.\n[kb-7] Invoices are emailed.\n\nQuestion: When do plans renew?"
    assert sources_of([{"role": "user", "content": text}]) == [
        ("1", "Plans renew yearly."),
        ("kb-7", "Invoices are emailed."),
    ]


def test_unlabelled_sources_are_numbered_after_labelled_ones():
    messages = [
        {"role": "system", "content": "Background: We are based in Lisbon."},  # inline header
        {"role": "user", "content": "[3] Support is open on weekdays.\n\nWhere are you based?"},
    ]
    assert sources_of(messages) == [("4", "We are based in Lisbon."), ("3", "Support is open on weekdays.")]


def test_tool_results_are_sources_and_json_becomes_key_value_text():
    messages = [
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"status": "shipped", "eta_days": 2})},
    ]
    conversation = read_conversation(messages)
    assert conversation.question == "Where is my order?"
    assert [(s.text, s.whole) for s in conversation.sources] == [("status: shipped; eta days: 2.", True)]


def test_the_last_paragraph_with_a_question_mark_is_the_question():
    question, rest = split_question("Our store opens at 9.\n\nWhen does it open?\n\nAnswer briefly.")
    assert question == "When does it open?"
    assert "Our store opens at 9." in rest and "When does it open" not in rest


def test_a_faq_q_line_is_not_taken_for_the_question():
    text = "Q: Can I merge accounts?\nA: No.\n\nCan I change my username?"
    assert split_question(text)[0] == "Can I change my username?"


def test_query_marker_and_trailing_answer_line():
    text = "Context information is below.\n---\nPython 3.12 removed distutils.\n---\nQuery: What was removed?\nAnswer: "
    question, rest = split_question(text)
    assert question == "What was removed?"
    assert "Answer" not in rest


def test_message_text_reads_string_and_part_lists():
    assert message_text({"role": "user", "content": "hi"}) == "hi"
    parts = [
        {"type": "text", "text": "a"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "b"},
    ]
    assert message_text({"role": "user", "content": parts}) == "a\n\nb"
    assert message_text({"role": "assistant", "content": None}) == ""


def test_sentences_respect_abbreviations_and_decimals():
    text = "Backups run at 2 a.m. UTC every day. The fee is 2.5 percent, e.g. on renewals. Dr. Smith approves it!"
    assert split_sentences(text) == [
        "Backups run at 2 a.m. UTC every day.",
        "The fee is 2.5 percent, e.g. on renewals.",
        "Dr. Smith approves it!",
    ]


def test_units_know_headings_lists_and_faq_questions():
    text = (
        "## Refunds\nWe refund annual plans.\nTo ask for one:\n1. Open Billing.\n2. Click Refund.\n\n"
        "Q: Are monthly plans refundable?\nA: No."
    )
    units = split_units(text, 0)
    assert [(u.text, u.heading, u.list_marker, u.is_heading) for u in units] == [
        ("Refunds", "", "", True),
        ("We refund annual plans.", "Refunds", "", False),
        ("To ask for one:", "Refunds", "", False),
        ("Open Billing.", "Refunds", "1.", False),
        ("Click Refund.", "Refunds", "2.", False),
        ("Q: Are monthly plans refundable?", "Refunds", "", False),
        ("No.", "Refunds", "", False),
    ]
    assert units[2].leads_into_list and units[5].asks


def test_wrapped_lines_join_into_one_sentence():
    units = split_units("Refunds are returned to the original\npayment method within a week.", 0)
    assert [u.text for u in units] == ["Refunds are returned to the original payment method within a week."]
