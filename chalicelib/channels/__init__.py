"""One package per chat platform: webhook verification, update parsing, the platform API client, senders."""
