"""Discord channel: interactions (slash commands, buttons) and gateway messages posted by the relay."""
