"""Reproduce the root cause of the papermill hang after a widget cell (issue #17). Not a benchmark; ~10 s.

nbclient's mimic of the ipywidgets Output widget (nbclient/output_widget.py, ``OutputWidget._publish_msg``)
sends a ``comm_msg`` on the *shell* channel each time the kernel routes an output into an Output
widget, from the task that reads IOPub, while ``_async_poll_for_reply`` awaits the cell's
``execute_reply`` on that same shell socket. ``ZMQSocketChannel.send`` goes through
``Session.send``, which replaces a ``zmq.asyncio`` socket by a *synchronous shadow* of it
(jupyter_client/session.py, ``zmq.Socket.shadow(stream.underlying)``). The synchronous
``zmq_send`` processes the socket's pending commands, including the one that announced the
``execute_reply``, and so drains the edge-triggered ``ZMQ_FD`` that the asyncio poll waits on;
nothing re-checks ``ZMQ_EVENTS`` afterwards (pyzmq's own asyncio ``send`` does), so the poll
sleeps until its timeout (the cell timeout: 900 s in the book, forever without one). It needs
the reply to arrive before the client has handled the widget cell's last output, which is what
load (two kernels and two clients on two cores) makes likely.

Run: ``python benchmarks/papermill_hang_repro.py``. Expected: ``none`` and ``async`` wake at once,
``shadow`` and ``jupyter_client`` only at the 3 s timeout although the reply was there all along.
"""
from __future__ import annotations

import asyncio
import time

import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session

TIMEOUT_MS = 3000


async def trial(mode: str) -> float:
    """Seconds the client's poll waits for a reply that is already there, after a send of ``mode``."""
    kernel = zmq.Context.instance().socket(zmq.ROUTER)           # the kernel's shell socket
    port = kernel.bind_to_random_port("tcp://127.0.0.1")
    client = zmq.asyncio.Context.instance().socket(zmq.DEALER)   # nbclient's shell channel
    client.connect(f"tcp://127.0.0.1:{port}")
    client.send(b"execute_request")
    ident, _ = kernel.recv_multipart()
    poll = asyncio.ensure_future(client.poll(TIMEOUT_MS))       # _async_poll_for_reply
    await asyncio.sleep(0.05)                                    # registered; the loop watches ZMQ_FD
    kernel.send_multipart([ident, b"execute_reply"])             # the kernel finishes the cell ...
    time.sleep(0.1)                                              # ... while the client is busy
    if mode == "shadow":
        zmq.Socket.shadow(client.underlying).send(b"comm_msg")
    elif mode == "jupyter_client":                               # what OutputWidget._publish_msg does
        session = Session()
        AsyncZMQSocketChannel(client, session).send(session.msg("comm_msg", content={}))
    elif mode == "async":                                        # the proposed fix: the asyncio send
        client.send(b"comm_msg")
    t0 = time.perf_counter()
    await poll
    waited = time.perf_counter() - t0
    client.close(0)
    kernel.close(0)
    return waited


def main() -> None:
    for mode in ("none", "async", "shadow", "jupyter_client"):
        print(f"{mode:>15}: the poll woke after {asyncio.run(trial(mode)):.2f} s")


if __name__ == "__main__":
    main()
