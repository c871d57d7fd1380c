"""Finding and masking personal data and secrets in text: pure functions, no database, no network.

``detect(text)`` lists findings; ``mask(text)`` replaces each with a typed placeholder (``<EMAIL>``,
``<CARD>``...); ``mask_json(value)`` does the same through every string of a JSON value. The guardrails
layer wraps these as a check; the datasets layer masks traces with them before they become items.

Kinds: EMAIL, PHONE, CARD (Luhn-checked), IBAN (mod-97-checked), IP_ADDRESS (v4 and v6), SSN (US, with
dashes), NATIONAL_ID (UK National Insurance number, Spanish DNI/NIE with their check letter), API_KEY
(sk-..., AKIA..., ghp_..., xox?-..., AIza..., sw-...) and JWT. Where two findings overlap, the one of the
kind listed first in ``KINDS`` wins. Numbers that only look like one (dates, order numbers, prices) are
left alone: cards and IBANs must pass their checksums, phones need a phone's shape.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str


Detector = Callable[[str], Iterator[tuple[int, int]]]

# -- secrets ------------------------------------------------------------------------------------------

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}")
_API_KEY = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic, Stripe-like
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{40,}"
    r"|xox[abpros]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|sw-[A-Za-z0-9_-]{16,}"  # Stackwright API keys
    r")(?![A-Za-z0-9_-])"
)


def _regex(pattern: re.Pattern[str]) -> Detector:
    def find(text: str) -> Iterator[tuple[int, int]]:
        for match in pattern.finditer(text):
            yield match.start(), match.end()

    return find


# -- email --------------------------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b")

# -- payment cards ------------------------------------------------------------------------------------

_CARD = re.compile(r"(?<![\d.,-])(?:\d[ -]?){12,18}\d(?![\d.,]\d|\d)")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits holds."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for match in _CARD.finditer(text):
        raw = match.group()
        digits = re.sub(r"[ -]", "", raw)
        separators = set(re.findall(r"[ -]", raw))
        if 13 <= len(digits) <= 19 and len(separators) <= 1 and digits[0] in "3456" and luhn_valid(digits):
            yield match.start(), match.end()


# -- IBAN ---------------------------------------------------------------------------------------------

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


def iban_valid(candidate: str) -> bool:
    """ISO 13616: 15-34 characters whose mod-97 check (country and check digits moved to the end) is 1."""
    value = candidate.replace(" ", "").upper()
    if not 15 <= len(value) <= 34 or not value.isalnum():
        return False
    moved = value[4:] + value[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for match in _IBAN.finditer(text):
        value = match.group()
        # Shorten from the right until the checksum holds (the pattern may swallow a following word).
        end = len(value)
        while end >= 15:
            if iban_valid(value[:end]) and (end == len(value) or value[end - 1] != " "):
                yield match.start(), match.start() + end
                break
            end -= 1


# -- IP addresses -------------------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _ipv6(text: str) -> Iterator[tuple[int, int]]:
    for match in _IPV6.finditer(text):
        value = match.group()
        if sum(ch.isalnum() for ch in value) < 2:
            continue
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        yield match.start(), match.end()


# -- national ids -------------------------------------------------------------------------------------

_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_UK_NINO = re.compile(r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_ES_ID = re.compile(r"\b([XYZ]?)(\d{7,8})-?([A-Z])\b")
_ES_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _national_ids(text: str) -> Iterator[tuple[int, int]]:
    for match in _UK_NINO.finditer(text):
        yield match.start(), match.end()
    for match in _ES_ID.finditer(text):
        prefix, digits, letter = match.groups()
        if (prefix and len(digits) != 7) or (not prefix and len(digits) != 8):
            continue
        number = int(str("XYZ".index(prefix)) + digits) if prefix else int(digits)
        if _ES_LETTERS[number % 23] == letter:
            yield match.start(), match.end()


# -- phone numbers ------------------------------------------------------------------------------------

_PHONE = re.compile(r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{1,4}){0,4}[ .-]\d{1,8}(?![\w.-]*\d)|(?<![\w+])\+\d{8,15}\b")
_NANP = re.compile(r"(?:\+?1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]\d{4}")
_DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for match in _PHONE.finditer(text):
        value = match.group().strip()
        digits = sum(ch.isdigit() for ch in value)
        if _DATE_LIKE.fullmatch(value):
            continue
        international = value.startswith("+") and 8 <= digits <= 15
        national = value.startswith(("0", "(0")) and 10 <= digits <= 11 and bool(re.search(r"[ .()-]", value))
        north_american = _NANP.fullmatch(value) is not None
        if international or national or north_american:
            yield match.start(), match.start() + len(value)


# -- cheap gates ----------------------------------------------------------------------------------------
# Most text holds no PII, and a detector's pattern tried at every position of 1 KB costs 20-60 us (their
# leading look-behinds defeat the regex engine's first-character scan). Each gate is a condition every
# match of its detector must meet (a substring, or a short pattern that starts with a digit and so is
# scanned fast); a detector runs only when its gate passes. A gate never changes what is found.

_SSN_GATE = re.compile(r"\d{3}-\d{2}-\d{4}")
_IPV4_GATE = re.compile(r"\d\.\d{1,3}\.\d")
_SIX_DIGITS_GATE = re.compile(r"\d\d ?\d\d ?\d\d")  # a NINO's digits; a DNI/NIE has 7-8 in a row
_CARD_GATE = re.compile(r"\d(?:[ -]?\d){12}")
_NANP_GATE = re.compile(r"\d{3}[ .-]\d{4}")  # how every North American number ends
_NATIONAL_PHONE_GATE = re.compile(r"0(?:[ .)-]{0,2}\d){9}")  # a leading 0, then 9+ digits, <= 2 separators apart
_API_KEY_HINTS = ("sk-", "AKIA", "ASIA", "gh", "xox", "AIza", "sw-")


def _gated(gate: Callable[[str], bool], detector: Detector) -> Detector:
    def find(text: str) -> Iterator[tuple[int, int]]:
        return detector(text) if gate(text) else iter(())

    return find


DETECTORS: dict[str, Detector] = {
    "JWT": _gated(lambda t: "eyJ" in t, _regex(_JWT)),
    "API_KEY": _gated(lambda t: any(hint in t for hint in _API_KEY_HINTS), _regex(_API_KEY)),
    "EMAIL": _gated(lambda t: "@" in t, _regex(_EMAIL)),
    "IBAN": _ibans,
    "CARD": _gated(lambda t: _CARD_GATE.search(t) is not None, _cards),
    "SSN": _gated(lambda t: "-" in t and _SSN_GATE.search(t) is not None, _regex(_SSN)),
    "NATIONAL_ID": _gated(lambda t: _SIX_DIGITS_GATE.search(t) is not None, _national_ids),
    "IP_ADDRESS": lambda text: (
        span
        for gate, finder in ((lambda t: t.count(".") >= 3 and _IPV4_GATE.search(t) is not None, _regex(_IPV4)), (lambda t: t.count(":") >= 2, _ipv6))
        if gate(text)
        for span in finder(text)
    ),
    "PHONE": _gated(lambda t: "+" in t or _NANP_GATE.search(t) is not None or _NATIONAL_PHONE_GATE.search(t) is not None, _phones),
}
KINDS = tuple(DETECTORS)


def _check_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return KINDS
    chosen = tuple(kinds)
    unknown = [kind for kind in chosen if kind not in DETECTORS]
    if unknown:
        raise ValueError(f"Unknown PII kind {unknown[0]!r}; kinds: {', '.join(KINDS)}.")
    return chosen


def detect(text: str, kinds: Iterable[str] | None = None) -> list[Finding]:
    """Personal data and secrets in ``text``, in order, without overlaps (earlier kinds in KINDS win)."""
    if not text:
        return []
    taken: list[Finding] = []
    for kind in _check_kinds(kinds):
        for start, end in DETECTORS[kind](text):
            if all(end <= f.start or start >= f.end for f in taken):
                taken.append(Finding(kind, start, end, text[start:end]))
    return sorted(taken, key=lambda f: f.start)


def placeholder(kind: str) -> str:
    return f"<{kind}>"


def mask(text: str, kinds: Iterable[str] | None = None) -> tuple[str, list[Finding]]:
    """``text`` with every finding replaced by its placeholder (``<EMAIL>``, ``<CARD>``...), and the findings."""
    findings = detect(text, kinds)
    if not findings:
        return text, []
    parts, last = [], 0
    for f in findings:
        parts.append(text[last : f.start])
        parts.append(placeholder(f.kind))
        last = f.end
    parts.append(text[last:])
    return "".join(parts), findings


def mask_json(value: Any, kinds: Iterable[str] | None = None) -> tuple[Any, list[Finding]]:
    """A copy of a JSON value with every string (not the object keys) masked, and all findings."""
    findings: list[Finding] = []

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            masked, found = mask(node, kinds)
            findings.extend(found)
            return masked
        if isinstance(node, dict):
            return {key: walk(inner) for key, inner in node.items()}
        if isinstance(node, list):
            return [walk(inner) for inner in node]
        return node

    return walk(value), findings


def count_kinds(findings: Iterable[Finding]) -> dict[str, int]:
    """{kind: how many}, for reports that must not repeat the data itself."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return counts
