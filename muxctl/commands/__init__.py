"""The muxctl command groups, one module each."""
