"""The Discord gateway relay: holds Discord's gateway websocket and posts each MESSAGE_CREATE to the mux, signed."""
