"""Telegram's inbound side on the channel-neutral interface: updates → InboundMessage, notices, envelope."""

from __future__ import annotations

from typing import Any

from chalicelib.channels.base import InboundMessage, PairingHint
from chalicelib.channels.telegram import inbound as tg
from chalicelib.config import Settings, get_settings


def _native(msg: InboundMessage) -> tg.TelegramMessage:
    native: tg.TelegramMessage = msg.native
    return native


class TelegramReceiver:
    channel = "telegram"

    def enabled(self, settings: Settings) -> bool:
        return settings.telegram_enabled

    def pairing_hint(self, token: str, settings: Settings) -> PairingHint:
        deep_link = None
        if settings.telegram_bot_username:
            deep_link = f"https://t.me/{settings.telegram_bot_username.lstrip('@')}?start={token}"
        return PairingHint(start_command=f"/start {token}", deep_link=deep_link)

    def parse(self, payload: dict[str, Any]) -> InboundMessage | None:
        from chalicelib.channels.telegram.outbound import inbound_refs

        native = tg.parse(payload)
        if native is None:
            return None
        cmd: tg.Command | None = None
        token: str | None = None
        if native.kind == "message":
            token = tg.find_token(native.text)
            cmd = tg.command(native.text)
            if cmd is not None and tg.addressed_to_other_bot(cmd, get_settings().telegram_bot_username):
                cmd = None
        return InboundMessage(
            channel=self.channel,
            event_id=native.event_id,
            kind=native.kind,
            route_candidates=native.route_candidates(),
            scope=native.scope,
            chat_id=native.chat_id,
            topic_id=native.topic_id,
            is_private=native.is_private,
            text=native.text,
            forwardable=native.forwardable,
            native=native,
            thread_id=native.private_thread_id,
            command=cmd,
            token=token,
            media=native.media,
            refs=inbound_refs(native.message, native.callback),
            service=native.service is not None,
        )

    def notify(self, msg: InboundMessage, text: str) -> bool:
        from chalicelib.channels.telegram import notices

        return notices.send(_native(msg), text)

    def acknowledge(self, msg: InboundMessage) -> None:
        from chalicelib.channels.telegram import notices

        notices.answer_callback(_native(msg))

    def is_chat_admin(self, msg: InboundMessage) -> bool:
        from chalicelib.channels.telegram import notices

        return notices.is_chat_admin(_native(msg))

    def session_key(self, msg: InboundMessage, agent_id: str | None, *, thread: bool) -> str:
        native = _native(msg)
        if thread:
            return native.session_key(agent_id)
        agent = agent_id or "main"
        if native.is_private:
            return f"agent:{agent}:telegram:direct:{native.chat_id}"
        key = f"agent:{agent}:telegram:group:{native.chat_id}"
        return key + (f":topic:{native.topic_id}" if native.topic_id is not None else "")

    def envelope(self, msg: InboundMessage, *, session_key: str, account_id: str, route_key: str,
                 settings: Settings) -> dict[str, Any]:
        from chalicelib.channels.telegram import media

        native = _native(msg)
        return tg.envelope(
            native,
            session_key=session_key,
            account_id=account_id,
            route_key=route_key,
            attachments=media.attachments(native, settings),
        )

    def display(self, msg: InboundMessage, *, topic_id: str | None, claim: bool) -> dict[str, str]:
        from chalicelib.channels.telegram import display

        return display.fields(_native(msg).message, topic_id=topic_id, claim=claim)

    def download(self, file_id: str, max_bytes: int, *, timeout: float) -> tuple[bytes, str | None] | None:
        from chalicelib.channels.telegram import media

        return media.download(file_id, max_bytes, timeout=timeout)


RECEIVER = TelegramReceiver()
