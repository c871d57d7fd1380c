"""A small help-center knowledge base, as a retrieval step would put it into a prompt."""

from __future__ import annotations

ARTICLES = [
    (
        "Reset your password",
        "If you forgot your password, you can reset it from the sign-in page. "
        "To reset your password:\n"
        '1. Open the sign-in page and click "Forgot password".\n'
        "2. Enter the email address of your account.\n"
        "3. Open the reset link we email you; it expires after 30 minutes.\n"
        "4. Choose a new password of at least 12 characters.\n"
        "If the email does not arrive within 10 minutes, check your spam folder.",
    ),
    (
        "Refund policy",
        "We offer a full refund within 30 days of purchase for annual plans. "
        "Monthly plans are not refundable, but you can cancel at any time and keep access until the end of the "
        "billing period. Refunds are returned to the original payment method and usually arrive within 5 to 7 "
        "business days. To request a refund, write to billing@acme.example with your invoice number.",
    ),
    (
        "Two-factor authentication",
        "Two-factor authentication (2FA) adds a second step when you sign in. You can turn on 2FA in Settings > "
        "Security. We support authenticator apps and hardware security keys. SMS codes are not supported because "
        "they can be intercepted. If you lose your device, use one of the ten backup codes you saved when you "
        "enabled 2FA.",
    ),
    (
        "Change your plan",
        "You can upgrade or downgrade your plan at any time from the Billing page. Upgrades take effect "
        "immediately and you pay the prorated difference. Downgrades take effect at the start of the next billing "
        "period. The Team plan costs $12 per user per month, and the Business plan costs $25 per user per month.",
    ),
    (
        "Export your data",
        "Workspace owners can export all projects as a ZIP archive from Settings > Data > Export. Exports include "
        "projects, comments and attachments, but not audit logs. Large exports are prepared in the background and "
        "we email a download link when they are ready. Download links stay valid for 7 days.",
    ),
]


def numbered_context() -> str:
    """ "Context:" followed by [1]..[5] sources, the common RAG prompt shape."""
    blocks = [f"[{i}] {title}\n{body}" for i, (title, body) in enumerate(ARTICLES, start=1)]
    return "Context:\n" + "\n\n".join(blocks)


def rag_messages(question: str) -> list[dict]:
    return [
        {"role": "system", "content": "You are Acme's support assistant. Answer only from the context."},
        {"role": "user", "content": f"{numbered_context()}\n\nQuestion: {question}"},
    ]
