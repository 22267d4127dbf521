"""How probes name what went wrong: one short human phrase per failure, as samples carry it."""

from __future__ import annotations

import errno
import os
import socket
import ssl


class ProbeFailure(Exception):
    """A problem of the target (not of the probe), with the message the sample will carry."""


_DNS_NOT_FOUND = {
    code
    for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
    if (code := getattr(socket, name, None)) is not None
}


def describe(error: OSError) -> str:
    """`connection refused`, `dns: name not found`, `certificate verify failed: …`."""
    if isinstance(error, socket.gaierror):
        if error.errno in _DNS_NOT_FOUND:
            return "dns: name not found"
        return f"dns: {_lower_first(error.strerror or str(error))}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {error.verify_message or error.reason}"
    if isinstance(error, ssl.SSLError):
        reason = (error.reason or str(error)).replace("_", " ").lower()
        return f"tls handshake failed: {reason}"
    if error.errno is not None and error.errno in errno.errorcode:
        return os.strerror(error.errno).lower()
    text = str(error)
    return _lower_first(text) if text else type(error).__name__


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
