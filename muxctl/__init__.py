"""muxctl: the operator CLI for openclaw-mux (talks to the mux over HTTP only; `dlq` may use SQS)."""

__version__ = "0.1.0"
