"""Terminal QR codes for pairing deep links (segno, optional)."""

from __future__ import annotations

import io


def terminal_qr(data: str) -> str | None:
    """The QR code as text for a terminal, or None when segno is not installed."""
    try:
        import segno
    except ImportError:
        return None
    buf = io.StringIO()
    segno.make(data, error="m").terminal(out=buf, compact=True)
    return buf.getvalue()
