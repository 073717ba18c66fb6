"""Telegram: Bot API client, update parsing (inbound) and the outbound sender."""
