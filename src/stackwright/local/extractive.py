"""``local/extractive``: answer only from the context in the messages, by picking sentences.

The question and the context sources come from ``context.read_conversation``. Each sentence of the
context is scored against the question: WordLlama cosine similarity blended with the share of the
question's content words (IDF-weighted over the context) that the sentence contains, plus a little
of its section heading's score. The best sentences above a threshold are kept (a numbered list
whose lead-in or steps are chosen comes whole), put back in source order, and cited with the label
of the source they came from: ``Refunds take 5 days [1].`` When no sentence clears the threshold,
the answer is ``CANNOT_ANSWER``. Deterministic: the same messages give the same answer.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stackwright.local.context import Conversation, read_conversation
from stackwright.local.sentences import Unit, split_units
from stackwright.local.words import content_words, question_compounds, question_words

CANNOT_ANSWER = "I can't answer that from the provided context."

SEMANTIC_WEIGHT = 0.5  # cosine similarity of WordLlama embeddings
LEXICAL_WEIGHT = 0.5  # IDF-weighted share of the question's content words found in the sentence
HEADING_WEIGHT = 0.15  # part of the section heading's score a sentence inherits
ANSWER_THRESHOLD = 0.38  # below this, no sentence supports an answer
RELATIVE_THRESHOLD = 0.8  # keep sentences scoring at least this share of the best one
FAQ_ANSWER_SHARE = 0.97  # of a matching context question's score, given to the answer after it
PREFIX_MATCH_CREDIT = 0.8  # "encryption" for "encrypted": most of an exact match
LEAD_IN_SHARE = 0.4  # of a list item's score that comes from its lead-in ("To reset your password:")
LEAD_IN_FACTOR = 0.8  # a "To do X:" lead-in says little unless the question asks how to do X
MAX_SENTENCES = 4  # sentences picked by score (a chosen numbered list adds its items)
MAX_LIST_ITEMS = 12
FRAMING_TOKENS_PER_MESSAGE = 3  # usage: OpenAI-style chat framing around each message

_INSTRUCTION_RE = re.compile(
    r"^(?:you are|you're|you will|you must|you should|you can only|your (?:task|job|role|goal)|act as"
    r"|answer\b|respond\b|reply\b|only (?:use|answer|respond|reply)|do not (?:make|answer|use|invent|guess|mention)"
    r"|don't (?:make|answer|use|invent|guess|mention)|never (?:make|invent|guess)|always (?:cite|answer|respond|use)"
    r"|cite\b|please (?:answer|respond|use|cite)|(?:using|use|given|based (?:only )?on) the (?:above |following )?"
    r"(?:context|information|sources|documents|passages)|if (?:you|the answer|the context|the question)"
    r"|here (?:is|are) (?:the|some)|the following (?:context|documents|sources|passages)|context information"
    r"|helpful answer|be (?:concise|brief|helpful|polite))",
    re.IGNORECASE,
)
_ASKS_FOR_QUANTITY_RE = re.compile(
    r"\b(how (?:long|much|many|often|soon|fast|late|early)|when|what time)\b", re.IGNORECASE
)
_ASKS_FOR_STEPS_RE = re.compile(
    r"\b(how (?:do|can|should|would) (?:i|we|you)|how to|steps?|instructions?|procedure)\b", re.IGNORECASE
)
_HAS_QUANTITY_RE = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|ten|hours?|days?|weeks?|months?)\b", re.IGNORECASE
)
_PRONOUN_START_RE = re.compile(r"^(?:it|its|they|their|this|these|that|those|he|she|his|her)\b", re.IGNORECASE)
_ORDERED_MARKER_RE = re.compile(r"^(?:\d{1,3}[.)]|\(\d{1,3}\)|[a-z][.)]|step\s+\d+)", re.IGNORECASE)


@dataclass
class ExtractiveAnswer:
    text: str
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    citations: list[str] = field(default_factory=list)  # source labels cited, in order
    answered: bool = True


def answer_messages(
    messages: list[dict[str, Any]], *, max_tokens: int | None = None, stop: list[str] | None = None
) -> ExtractiveAnswer:
    """Answer the last user question from the context in ``messages``; usage by the local tokenizer."""
    from stackwright.local.embedder import count_tokens, truncate_to_tokens

    conversation = read_conversation(messages)
    picked = pick_units(conversation)
    text = compose_answer(picked, conversation) if picked else CANNOT_ANSWER
    finish_reason = "stop"
    text = _cut_at_stop(text, stop)
    if max_tokens is not None:
        text, cut = truncate_to_tokens(text, max_tokens)
        finish_reason = "length" if cut else "stop"
    citations = list(dict.fromkeys(conversation.sources[u.source].label or "" for u in picked))
    return ExtractiveAnswer(
        text=text,
        finish_reason=finish_reason,
        prompt_tokens=prompt_token_count(messages),
        completion_tokens=count_tokens(text),
        citations=citations,
        answered=bool(picked),
    )


def prompt_token_count(messages: list[dict[str, Any]]) -> int:
    """Tokens of the messages (role, name, text, tool calls) plus a few per message for the framing."""
    from stackwright.local.context import message_text
    from stackwright.local.embedder import count_tokens_many

    texts = [" ".join(str(m.get(k) or "") for k in ("role", "name")) + " " + message_text(m) for m in messages]
    texts += [json.dumps(m["tool_calls"]) for m in messages if m.get("tool_calls")]
    return sum(count_tokens_many(texts)) + FRAMING_TOKENS_PER_MESSAGE * (len(messages) + 1)


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    for sequence in stop or []:
        if sequence and sequence in text:
            text = text[: text.index(sequence)]
    return text


def candidate_units(conversation: Conversation) -> list[Unit]:
    units: list[Unit] = []
    for index, source in enumerate(conversation.sources):
        if source.whole:
            units.append(Unit(text=source.text, source=index, paragraph=0))
            continue
        for unit in split_units(source.text, index):
            if source.from_prompt and _INSTRUCTION_RE.match(unit.text):
                continue
            units.append(unit)
    return units


def pick_units(conversation: Conversation) -> list[Unit]:
    """The units that answer the question, in source order; [] when the context does not support one."""
    question = conversation.question.strip()
    units = candidate_units(conversation)
    if not question or not units:
        return []
    scores = score_units(question, units)
    _pass_to_faq_answers(units, scores)
    selectable = [i for i, u in enumerate(units) if not u.is_heading and not u.asks]
    if not selectable:
        return []
    best = max(scores[i] for i in selectable)
    if best < ANSWER_THRESHOLD:
        return []
    floor = max(ANSWER_THRESHOLD, best * RELATIVE_THRESHOLD)
    ranked = sorted((i for i in selectable if scores[i] >= floor), key=lambda i: (-scores[i], i))
    chosen = set(_distinct(units, ranked)[:MAX_SENTENCES])
    chosen |= _whole_lists(units, chosen, steps_wanted=bool(_ASKS_FOR_STEPS_RE.search(question)))
    chosen |= _antecedents(units, chosen)
    return [units[i] for i in sorted(chosen)]


def score_units(question: str, units: list[Unit]) -> list[float]:
    """Relevance of each unit to the question, about 0 (unrelated) to 1 (says the same)."""
    from stackwright.local.embedder import embed

    headings = sorted({u.heading for u in units if u.heading})
    texts = [question] + [u.text for u in units] + headings
    vectors = embed(texts)
    similarity = (vectors[1:] @ vectors[0]).tolist()
    semantic = similarity[: len(units)]
    heading_semantic = dict(zip(headings, similarity[len(units) :], strict=True))
    unit_words = [set(content_words(u.text)) for u in units]
    heading_words = {heading: set(content_words(heading)) for heading in headings}
    idf = _idf(unit_words)
    asked = read_asked(question, set(idf))
    unit_words = _with_antecedents(units, unit_words)
    relevance = []
    for unit, sem, words in zip(units, semantic, unit_words, strict=True):
        score = SEMANTIC_WEIGHT * max(sem, 0.0) + LEXICAL_WEIGHT * _coverage(asked, words, idf)
        if unit.heading:
            heading_semantic_score = SEMANTIC_WEIGHT * max(heading_semantic[unit.heading], 0.0)
            in_section = heading_words[unit.heading] | words
            heading_score = heading_semantic_score + LEXICAL_WEIGHT * _coverage(asked, in_section, idf)
            score += HEADING_WEIGHT * max(heading_score - score, 0.0)
        relevance.append(score)
    return _adjust_for_question(question, units, relevance)


def _adjust_for_question(question: str, units: list[Unit], relevance: list[float]) -> list[float]:
    """List items lean on their lead-in; "how long"/"when" questions favour sentences with numbers;
    a lead-in alone is worth less unless the question asks how to do something."""
    wants_quantity = bool(_ASKS_FOR_QUANTITY_RE.search(question))
    wants_steps = bool(_ASKS_FOR_STEPS_RE.search(question))
    scores = []
    lead_in: int | None = None
    for i, unit in enumerate(units):
        score = relevance[i]
        if not unit.list_marker:
            lead_in = i if unit.leads_into_list else None
        elif lead_in is not None and units[lead_in].source == unit.source:
            score = (1 - LEAD_IN_SHARE) * score + LEAD_IN_SHARE * relevance[lead_in]
        if wants_quantity and not _HAS_QUANTITY_RE.search(unit.text):
            score *= 0.9
        if unit.leads_into_list and not wants_steps:
            score *= LEAD_IN_FACTOR
        scores.append(score)
    return scores


def _with_antecedents(units: list[Unit], unit_words: list[set[str]]) -> list[set[str]]:
    """A sentence opening with a pronoun ("It was completed in 1889.") also has the words of the
    sentence before it in the same paragraph, for lexical matching."""
    out = list(unit_words)
    for i in range(1, len(units)):
        unit, previous = units[i], units[i - 1]
        if _PRONOUN_START_RE.match(unit.text) and _same_paragraph(previous, unit):
            out[i] = unit_words[i] | out[i - 1]
    return out


def _idf(unit_words: list[set[str]]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for words in unit_words:
        counts.update(words)
    total = len(unit_words)
    return {word: math.log(1.0 + total / (1.0 + df)) for word, df in counts.items()} | {"": math.log(1.0 + total)}


@dataclass(frozen=True)
class Asked:
    """The question's words as the lexical score sees them."""

    words: set[str]  # stemmed content words
    joined: dict[str, tuple[str, str]]  # "usernam" -> ("user", "name"): two words written as one
    related: dict[str, set[str]]  # context words sharing a long prefix: "encrypt" -> {"encryption"}


def read_asked(question: str, vocabulary: set[str]) -> Asked:
    words = question_words(question)
    related = {w: {v for v in vocabulary if v != w and _share_stem(w, v)} for w in words if len(w) >= 5}
    return Asked(words, question_compounds(question), {w: r for w, r in related.items() if r})


def _coverage(asked: Asked, words: set[str], idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's words the unit has; a word absent from the whole context
    weighs most. A shared long prefix (encrypt/encryption) counts most of a match, and two adjacent
    question words written as one (user name/username) count as both."""
    if not asked.words:
        return 0.0
    unseen = idf[""]
    weights = {w: idf.get(w, unseen) for w in asked.words}
    joined = {part for compound, parts in asked.joined.items() if compound in words for part in parts}
    found = 0.0
    for word in asked.words:
        if word in words or word in joined:
            found += weights[word]
        elif word in asked.related and not asked.related[word].isdisjoint(words):
            found += PREFIX_MATCH_CREDIT * weights[word]
    return found / sum(weights.values())


def _share_stem(a: str, b: str) -> bool:
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 5 and long.startswith(short)


def _pass_to_faq_answers(units: list[Unit], scores: list[float]) -> None:
    """A context question ("Q: How do I reset my password?") lends its score to its answer: the rest
    of its paragraph, or the next paragraph when the question stands alone."""
    for i, unit in enumerate(units):
        if not unit.asks:
            continue
        answer_paragraph = None
        for j in range(i + 1, len(units)):
            follower = units[j]
            if follower.source != unit.source or follower.asks or follower.is_heading:
                break
            if answer_paragraph is None:
                answer_paragraph = follower.paragraph
            if follower.paragraph != answer_paragraph:
                break
            scores[j] = max(scores[j], scores[i] * FAQ_ANSWER_SHARE)


def _distinct(units: list[Unit], ranked: list[int]) -> list[int]:
    """Drop units whose text repeats a better one (the same sentence in two sources)."""
    seen: set[str] = set()
    out = []
    for i in ranked:
        key = " ".join(content_words(units[i].text)) or units[i].text.lower()
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


def _whole_lists(units: list[Unit], chosen: set[int], *, steps_wanted: bool) -> set[int]:
    """A chosen lead-in ("To reset it:") brings the list after it; when the question asks how to do
    something, a chosen step of a numbered list brings its lead-in and the other steps."""
    extra: set[int] = set()
    for i in sorted(chosen):
        unit = units[i]
        if unit.leads_into_list and not unit.list_marker:
            extra.update(_list_from(units, i + 1, unit.source))
        elif steps_wanted and unit.list_marker and _ORDERED_MARKER_RE.match(unit.list_marker):
            start = i
            while start > 0 and units[start - 1].list_marker and units[start - 1].source == unit.source:
                start -= 1
            lead_in = start - 1
            if lead_in >= 0 and units[lead_in].source == unit.source and units[lead_in].leads_into_list:
                extra.add(lead_in)
            extra.update(_list_from(units, start, unit.source))
    return extra - chosen


def _antecedents(units: list[Unit], chosen: set[int]) -> set[int]:
    """The sentence before a chosen one that opens with a pronoun, so "It" has its subject."""
    extra = set()
    for i in chosen:
        j = i
        while j > 0 and _PRONOUN_START_RE.match(units[j].text) and _same_paragraph(units[j - 1], units[j]):
            j -= 1
            extra.add(j)
    return extra - chosen


def _same_paragraph(a: Unit, b: Unit) -> bool:
    return a.source == b.source and a.paragraph == b.paragraph and not a.is_heading and not a.list_marker


def _list_from(units: list[Unit], first: int, source: int) -> list[int]:
    """The list items from ``first`` on, while they last in the same source."""
    items: list[int] = []
    for j in range(first, len(units)):
        if not units[j].list_marker or units[j].source != source or len(items) >= MAX_LIST_ITEMS:
            break
        items.append(j)
    return items


def compose_answer(picked: list[Unit], conversation: Conversation) -> str:
    """The picked units as text, list items on their own lines, each run cited with its source label."""
    parts: list[str] = []
    for i, unit in enumerate(picked):
        text = unit.text.strip()
        last_of_run = i + 1 == len(picked) or picked[i + 1].source != unit.source
        if last_of_run:
            text = cite(text, conversation.sources[unit.source].label or str(unit.source + 1))
        if unit.list_marker:
            text = f"{unit.list_marker} {text}"
        if parts:
            separator = "\n" if unit.list_marker or picked[i - 1].list_marker else " "
            parts.append(separator)
        parts.append(text)
    return "".join(parts)


def cite(text: str, label: str) -> str:
    """``text`` with `` [label]`` before its final punctuation: ``Refunds take 5 days [1].``"""
    marker = f" [{label}]"
    match = re.search(r"([.!?;]+[\"'”’)]*)$", text)
    if match:
        return text[: match.start()] + marker + match.group(1)
    return text.rstrip(":") + marker
