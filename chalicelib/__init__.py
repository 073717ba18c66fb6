"""openclaw-mux: everything below app.py (services, storage, channels, routes)."""
