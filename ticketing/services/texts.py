"""Customer-facing texts the services write themselves (acknowledgements), in Dutch and English."""

from __future__ import annotations

ACK_SUBJECT = {
    "nl": "Wij hebben uw bericht ontvangen",
    "en": "We have received your message",
}

ACK_EMAIL = {
    "nl": (
        "Beste {name},\n\n"
        "Bedankt voor uw bericht. Wij hebben het ontvangen onder nummer {reference} en "
        "reageren zo snel mogelijk.\n"
        "{tracking}"
        "\nVermeld bij vervolgvragen het nummer {reference}, of antwoord op deze e-mail.\n\n"
        "Met vriendelijke groet,\n{organisation}\n"
    ),
    "en": (
        "Dear {name},\n\n"
        "Thank you for your message. We have received it as {reference} and will reply as "
        "soon as we can.\n"
        "{tracking}"
        "\nPlease mention {reference} in follow-up questions, or reply to this e-mail.\n\n"
        "Kind regards,\n{organisation}\n"
    ),
}

ACK_TRACKING_LINE = {
    "nl": "U kunt uw melding volgen en aanvullen via: {url}\n",
    "en": "You can follow and add to your complaint here: {url}\n",
}

ACK_SMS = {
    "nl": "{organisation}: uw bericht is ontvangen onder nummer {reference}. Wij reageren zo snel "
    "mogelijk.",
    "en": "{organisation}: we received your message as {reference} and will reply as soon as "
    "we can.",
}

CUSTOMER_FALLBACK_NAME = {"nl": "klant", "en": "customer"}


def pick_language(language: str | None, default: str = "nl") -> str:
    """Customer-facing text is Dutch or English; anything else gets the default."""
    return language if language in ("nl", "en") else default
