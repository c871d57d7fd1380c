"""The PII detector and masker: each kind found and masked, checksums that refuse look-alikes, no false positives."""

from __future__ import annotations

import pytest

from stackwright.datasets.pii import KINDS, count_kinds, detect, iban_valid, luhn_valid, mask, mask_json


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Mail jane.doe+tag@example.co.uk now", "Mail <EMAIL> now"),
        ("card 4111 1111 1111 1111 ok", "card <CARD> ok"),
        ("card 4111-1111-1111-1111.", "card <CARD>."),
        ("amex 378282246310005", "amex <CARD>"),
        ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "IBAN <IBAN> thanks"),
        ("DE89370400440532013000", "<IBAN>"),
        ("from 192.168.1.10 today", "from <IP_ADDRESS> today"),
        ("v6 2001:db8::8a2e:370:7334 and fe80::1ff:fe23:4567:890a", "v6 <IP_ADDRESS> and <IP_ADDRESS>"),
        ("ssn 123-45-6789", "ssn <SSN>"),
        ("NI number AB 12 34 56 C", "NI number <NATIONAL_ID>"),
        ("DNI 12345678Z, NIE X1234567L", "DNI <NATIONAL_ID>, NIE <NATIONAL_ID>"),
        ("openai sk-proj-abcdefghijklmnopqrstuvwxyz012345", "openai <API_KEY>"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws <API_KEY>"),
        ("gh ghp_" + "a1B2" * 9, "gh <API_KEY>"),
        ("ours sw-test-admin-key-0123456789abcdef", "ours <API_KEY>"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt <JWT>"),
        ("call +1 415 555 2671", "call <PHONE>"),
        ("call (415) 555-2671 or 415.555.2671", "call <PHONE> or <PHONE>"),
        ("UK 020 7946 0958, intl +442079460958", "UK <PHONE>, intl <PHONE>"),
    ],
)
def test_each_kind_is_masked(text, masked):
    assert mask(text)[0] == masked


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "IBAN GB82 WEST 1234 5698 7654 33",  # fails mod-97
        "DE89370400440532013001",
        "Order 12345 of 2024-05-01 costs 1,234.56 USD; qty 3 4 5; port 8080; zip 94107",
        "id 1234567890123 and ref 100 200 300 and 10/12/2023 at 12:30:45",
        "version 1.2.3 and 3.14159 and 1e10",
        "ssn-like 000-12-3456 and 666-12-3456",
        "DNI 12345678A",  # wrong check letter
        "sk-short and AKIA123",
        "plain words, no numbers at all",
        "",
    ],
)
def test_no_false_positives(text):
    assert detect(text) == [], detect(text)
    assert mask(text) == (text, [])


def test_checksums():
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("1234567812345678")
    assert iban_valid("GB82WEST12345698765432") and iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB82WEST12345698765433") and not iban_valid("GB82") and not iban_valid("GB82WEST1234569876543$")


def test_findings_have_kind_offsets_and_text():
    text = "write to a@b.io or call +1 415 555 2671"
    findings = detect(text)
    assert [(f.kind, text[f.start : f.end], f.text) for f in findings] == [("EMAIL", "a@b.io", "a@b.io"), ("PHONE", "+1 415 555 2671", "+1 415 555 2671")]
    assert count_kinds(findings) == {"EMAIL": 1, "PHONE": 1}
    only = detect(text, kinds=["PHONE"])
    assert [f.kind for f in only] == ["PHONE"]
    with pytest.raises(ValueError, match="Unknown PII kind 'NAME'"):
        detect(text, kinds=["NAME"])
    assert set(KINDS) >= {"EMAIL", "PHONE", "CARD", "IBAN", "IP_ADDRESS", "SSN", "NATIONAL_ID", "API_KEY", "JWT"}


def test_overlaps_go_to_the_more_specific_kind():
    # a JWT contains no email, an IBAN's digits are not a card or a phone, a key is not a phone
    assert mask("GB82 WEST 1234 5698 7654 32")[0] == "<IBAN>"
    assert mask("key sw-0123456789-0123456789")[0] == "key <API_KEY>"


def test_mask_json_recurses_and_keeps_structure():
    value = {"user": "jane@example.com", "items": [{"card": "4111111111111111"}, 42, None, True], "keep": "hello"}
    masked, findings = mask_json(value)
    assert masked == {"user": "<EMAIL>", "items": [{"card": "<CARD>"}, 42, None, True], "keep": "hello"}
    assert count_kinds(findings) == {"EMAIL": 1, "CARD": 1}
    assert value["user"] == "jane@example.com"  # the input is not changed
    assert mask_json("plain") == ("plain", [])


def test_phone_numbers_with_long_subscriber_groups():
    from stackwright.datasets.pii import detect as find

    assert [(f.kind, f.text) for f in find("Call +49 30 4887604 today")] == [("PHONE", "+49 30 4887604")]
    assert find("Reference 3037 9397 and order 48213") == []
