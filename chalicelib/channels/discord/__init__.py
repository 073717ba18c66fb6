"""Discord channel: interactions endpoint, gateway-relay webhook and REST v10 sender."""
