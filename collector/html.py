"""What every HTML page of the collector is served with: self-contained pages (styles inline, no
script, no outside asset) under a Content-Security-Policy that allows nothing else."""

from __future__ import annotations

HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
