"""The interactions webhook's immediate answers (Discord wants one within 3 s): PONG, deferred answers for
commands and button presses, and a short ephemeral message for what the mux cannot process."""

from __future__ import annotations

from typing import Any

from chalicelib.channels.discord.inbound import APPLICATION_COMMAND, AUTOCOMPLETE, PING, DiscordMessage, ephemeral

PONG = {"type": 1}
EPHEMERAL = 64
# DEFERRED_UPDATE_MESSAGE: the button press is acknowledged, the message with the button stays as it is.
DEFERRED_UPDATE = {"type": 6}
NO_CHOICES = {"type": 8, "data": {"choices": []}}  # the mux registers no autocomplete options
UNUSABLE = {
    "type": 4,
    "data": {"content": "Sorry, this could not be processed.", "flags": EPHEMERAL, "allowed_mentions": {"parse": []}},
}


def immediate(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to an interaction that is not queued (PING, autocomplete), else None."""
    kind = payload.get("type")
    if kind == PING:
        return PONG
    if kind == AUTOCOMPLETE:
        return NO_CHOICES
    return None


def deferred(msg: DiscordMessage) -> dict[str, Any]:
    """DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE ("thinking…", edited by the worker), private to the user for /pair
    and the control commands; DEFERRED_UPDATE_MESSAGE for a button press."""
    if msg.interaction_type != APPLICATION_COMMAND:
        return DEFERRED_UPDATE
    if ephemeral(msg.payload):
        return {"type": 5, "data": {"flags": EPHEMERAL}}
    return {"type": 5}
