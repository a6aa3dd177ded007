"""The README section on fuzzing another server with protokit.testing: this
file is the ```python block sent to the lead (kept here so it is tested)."""

import socket
import threading

from hypothesis import given, settings

from protokit import NEED_DATA
from protokit.smtp import Quit, ServerConnection
from protokit.testing.strategies import smtp_sessions

# The server under test: any SMTP server on 127.0.0.1.  Here, protokit's own
# ServerConnection behind a tiny socket loop, so the example runs anywhere.
listener = socket.create_server(("127.0.0.1", 0))
address = listener.getsockname()


def serve() -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:  # the listener was closed: stop
            return
        with sock:
            conn = ServerConnection()
            sock.sendall(conn.data_to_send())
            done = False
            while not done:
                data = sock.recv(65536)
                conn.receive_data(data)
                while (event := conn.next_event()) is not NEED_DATA:
                    done = done or isinstance(event, Quit)
                    while conn.pending is not None:
                        conn.reply()  # accept every sender, recipient and message
                sock.sendall(conn.data_to_send())
                done = done or not data


threading.Thread(target=serve, daemon=True).start()


# The fuzzer: whole valid sessions (EHLO, messages with dot-stuffed bodies,
# QUIT) sent in one segment; the server must answer every command and say 221.
@settings(max_examples=25, deadline=None)
@given(smtp_sessions())
def check_server(session: bytes) -> None:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(session)
        replies = b""
        while chunk := sock.recv(65536):
            replies += chunk
    lines = replies.splitlines()
    assert lines[0].startswith(b"220 ") and lines[-1].startswith(b"221 "), replies
    assert replies.count(b"\r\n354 ") == session.count(b"\r\nDATA\r\n")


check_server()
listener.close()
print("25 sessions, every one answered")
