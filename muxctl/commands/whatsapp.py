"""`muxctl whatsapp verify-webhook`: run Meta's subscription handshake against a mux and report what it answered."""

from __future__ import annotations

import secrets

import click

from muxctl.context import State, connection_options, pass_state
from muxctl.errors import CliError, UsageProblem
from muxctl.whatsapp import WEBHOOK_PATH, handshake


@click.group()
def whatsapp() -> None:
    """WhatsApp (Cloud API) webhook checks."""


@whatsapp.command("verify-webhook")
@click.option("--verify-token", envvar="WHATSAPP_VERIFY_TOKEN", show_envvar=True,
              help="The verify token entered in Meta's app dashboard (the mux's WHATSAPP_VERIFY_TOKEN).")
@connection_options(admin=False, key=False)
@pass_state
def verify_webhook(state: State, verify_token: str | None) -> None:
    """GET <url>/v1/webhooks/whatsapp as Meta does when you save the callback URL: the mux must echo the
    challenge for the right token and refuse a wrong one (403)."""
    if not verify_token:
        raise UsageProblem("no verify token: pass --verify-token or set WHATSAPP_VERIFY_TOKEN")
    client = state.client()
    challenge = str(secrets.randbelow(10**10))
    status, body = handshake(client, verify_token, challenge)
    wrong_status, _ = handshake(client, verify_token + "-wrong", challenge)
    echoed = status == 200 and body.strip() == challenge
    refuses_wrong = wrong_status == 403
    url = client.base_url + WEBHOOK_PATH
    data = {"ok": echoed and refuses_wrong, "url": url, "status": status, "challengeEchoed": echoed,
            "wrongTokenStatus": wrong_status}
    if not echoed:
        reason = ("the mux refused the token (403): it differs from the mux's WHATSAPP_VERIFY_TOKEN" if status == 403
                  else f"answered {status} without echoing the challenge")
        raise CliError(f"{url}: {reason}; Meta will not save this callback URL", status=status, details=data)
    if not refuses_wrong:
        raise CliError(f"{url}: echoed the challenge, but a wrong verify token got {wrong_status} instead of 403",
                       status=wrong_status, details=data)
    state.emit(data, f"{url}: OK — the challenge is echoed for the verify token and a wrong token gets 403. "
                     "Meta's dashboard will accept this callback URL.")
