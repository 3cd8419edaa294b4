"""The widget's own words, in the site's language (``Site.language``): Django's i18n catalogue
(``locale/<lang>/LC_MESSAGES/django.po``), so a language is added there, not in code. The panel
page gets them as JSON (``panel_strings``); the host page's launcher gets its label with the
site's settings (``widget.views.site_settings``)."""

from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _

STRINGS = {
    "open": _("Open the chat"),
    "close": _("Close the chat"),
    "input_label": _("Your message"),
    "placeholder": _("Type your message…"),
    "send": _("Send"),
    "stop": _("Stop"),
    "new_conversation": _("New conversation"),
    "starters": _("Suggested questions"),
    "connecting": _("Connecting…"),
    "reconnecting": _("Connection lost, reconnecting…"),
    "stopped": _("Stopped"),
    "sources": _("Sources"),
    "rate_limited": _("You are sending messages too fast. Try again in {seconds} s."),
    "failed": _("Something went wrong. Please try again."),
    "verification_required": _("Please sign in on this website to chat with us."),
    "rate_up": _("Helpful"),
    "rate_down": _("Not helpful"),
    "rated": _("Thanks for your feedback."),
    "human": _("Talk to a person"),
    "human_requested": _("Your request for a person is recorded."),
    "human_has_it": _("Your message went to the person helping you."),
    "agent_joined": _("{agent} joined the conversation."),
    "agent_typing": _("{agent} is typing…"),
    "bot_again": _("The assistant answers again."),
    "powered_by": _("AI assistant: answers may contain mistakes."),
    "messages": _("Conversation"),
}


def panel_strings(language: str) -> dict[str, Any]:
    with translation.override(language):
        return {key: str(text) for key, text in STRINGS.items()}
