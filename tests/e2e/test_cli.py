"""The command line's own promises: exit codes of CONTRACT §1."""

from __future__ import annotations

import signal
import socket

from tests.support import start_slawatch, stop_process


def test_ctrl_c_during_a_probe_is_not_reported_as_up() -> None:
    """Exit 0 means "up" for `slawatch probe`: an interrupted probe must not say so."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(20)
        port = listener.getsockname()[1]
        process = start_slawatch(["probe", f"http://127.0.0.1:{port}/", "--timeout", "30s"])
        connection, _ = listener.accept()  # the probe is waiting for an answer now
        with connection:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=20)
    code, out, err = stop_process(process)
    assert code == 130
    assert "Traceback" not in err
    assert "UP" not in out
