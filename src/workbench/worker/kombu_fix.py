"""Workarounds for two ways kombu's Redis transport ends the worker (Celery 5.7.0 / kombu 5.7.0).

**Redis drops.** With ``-c 2`` or more, one task running and a free slot polling, the worker's main process exits
the moment Redis goes away: ``Unrecoverable error: AttributeError("'NoneType' object has no
attribute 'hostname'")`` from kombu's ``QoS.restore_unacked``. Celery 5.7's
``on_connection_error_after_connected`` runs ``connection.collect()`` (which sets the transport's
``client`` to None) and then closes the connection again (celery/celery PR #10242, for #9705);
the second close restores unacked messages through ``Channel._connparams``, which reads
``self.connection.client.hostname``. No released fix is known (relatives: celery/kombu#582,
celery/kombu#970); the fix below was checked against 5 s, 40 s and 300 s outages.

Each Redis channel keeps its own reference to the connection info and puts it back when the
transport was collected, so the second close restores the unacked messages instead of crashing.
**Junk in a queue.** Redis is not trusted (SECURITY.md): anyone who reaches it can push anything.
kombu decodes what it reads from Redis (BRPOP, RPOP, a broadcast) with a bare ``loads``, so
``LPUSH pipeline hello`` ends every worker (``Unrecoverable error: JSONDecodeError`` from
``Transport.on_readable``), and JSON that is no message envelope (``{"body": 12, "headers":
"x"}``) fails in ``Message.__init__`` (``KeyError('properties')``) and makes the consumer drop its
broker connection. A broadcast that is not JSON is logged by kombu with 4 KiB of its content.

So the Redis transport's ``loads`` is replaced by ``decode``, and its ``Transport._deliver`` first
checks the envelope (``envelope_problem``). A payload that is not JSON, or no envelope kombu's
``Message`` and the Redis QoS can take, is logged with a short escaped prefix and dropped: BRPOP
and RPOP took it off the queue already, nothing requeues it, so it cannot come back. The read
then counts as empty (``queue.Empty``: kombu's event loop and ``drain_events`` take it as
"nothing to do") and the next message is served.

``apply()`` is idempotent and a no-op on a kombu whose channel has no ``_connparams``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from queue import Empty
from typing import Any

_APPLIED = False
log = logging.getLogger("workbench.worker.broker")

#: How many characters of a dropped message the log shows (escaped): enough to recognise it.
PREFIX = 24
DROPPED = "dropped an undecodable broker message"


class UndecodableMessage(Empty):
    """A payload read from Redis that is no message: dropped; the read counts as empty."""


def safe_prefix(raw: Any) -> str:
    """The first ``PREFIX`` characters of ``raw``, escaped (no control character or newline
    reaches the log) and masked."""
    from ..masking import mask_text

    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw[:PREFIX * 4]).decode("utf-8", "replace")
    text = str(raw)
    return mask_text(ascii(text[:PREFIX]) + ("..." if len(text) > PREFIX else ""))


def _dropped(raw: Any, why: str, where: str = "") -> UndecodableMessage:
    log.error("%s%s: %s; it began %s", DROPPED, f" from {where}" if where else "", why,
              safe_prefix(raw))
    return UndecodableMessage(why)


def envelope_problem(payload: Any) -> str | None:
    """Why ``payload`` is no envelope kombu's ``Message`` and the Redis QoS can take, or None.

    The fields checked are those kombu reads without a guard: ``properties`` with its
    ``delivery_tag`` and ``delivery_info`` (exchange, routing key), the body and its encoding,
    the headers, the content type and encoding.
    """
    if not isinstance(payload, dict):
        return f"not a message envelope (a JSON {type(payload).__name__})"
    props = payload.get("properties")
    if not isinstance(props, dict):
        return "not a message envelope (no properties)"
    tag = props.get("delivery_tag")
    if not isinstance(tag, str) or not tag:
        return "not a message envelope (no delivery tag)"
    info = props.get("delivery_info")
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str)
                                             for k in ("exchange", "routing_key")):
        return "not a message envelope (no delivery info)"
    if not isinstance(payload.get("headers"), (dict, type(None))):
        return "not a message envelope (the headers are not an object)"
    for key in ("content-type", "content-encoding"):
        if not isinstance(payload.get(key), (str, type(None))):
            return f"not a message envelope ({key} is not a string)"
    body, encoding = payload.get("body"), props.get("body_encoding")
    if not isinstance(body, (str, type(None))):
        return "not a message envelope (the body is not a string)"
    if not isinstance(encoding, (str, type(None))):
        return "not a message envelope (the body encoding is not a string)"
    if body and encoding and encoding.lower() != "utf-8":
        if encoding != "base64":  # the one codec of kombu's virtual channel
            return "not a message envelope (an unknown body encoding)"
        try:
            base64.b64decode(body.encode("ascii"), validate=True)
        except (binascii.Error, ValueError):
            return "not a message envelope (the body is not base64)"
    return None


def _json_decoder(loads: Any) -> Any:
    def decode(text: Any) -> Any:
        """kombu's ``loads`` for what the Redis transport reads; junk is ``UndecodableMessage``."""
        try:
            return loads(text)
        except (TypeError, ValueError) as exc:  # JSONDecodeError; bytes_to_str replaced bad UTF-8
            raise _dropped(text, f"not JSON ({type(exc).__name__})") from None

    decode.__wrapped__ = loads  # type: ignore[attr-defined]
    return decode


def apply() -> bool:
    """Patch kombu's Redis channel; returns True if the patch is in place."""
    global _APPLIED
    if _APPLIED:
        return True
    try:
        from kombu.transport import redis as kredis
    except ImportError:  # no Redis transport: nothing to fix
        return False
    channel = kredis.Channel
    if not hasattr(channel, "_connparams"):
        return False
    original_init, original_connparams = channel.__init__, channel._connparams

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._wb_conninfo = self.connection.client

    def _connparams(self: Any, asynchronous: bool = False) -> Any:
        if self.connection.client is None and getattr(self, "_wb_conninfo", None) is not None:
            # the transport was collect()ed before this second close (Celery 5.7)
            self.connection.client = self._wb_conninfo
        return original_connparams(self, asynchronous)

    channel.__init__ = __init__
    channel._connparams = _connparams
    _guard_decoding(kredis)
    _APPLIED = True
    return True


def _guard_decoding(kredis: Any) -> None:
    """Junk read from Redis is dropped, not fatal (see the module's docstring)."""
    # every payload the transport reads (BRPOP, RPOP, a broadcast, an unacked message to restore)
    # is decoded through the module's ``loads``
    kredis.loads = _json_decoder(kredis.loads)
    # and every message it delivers goes through the transport's ``_deliver``
    transport = kredis.Transport
    original_deliver = transport._deliver

    def _deliver(self: Any, message: Any, queue: Any) -> Any:
        problem = envelope_problem(message)
        if problem is not None:
            import json

            raise _dropped(json.dumps(message, default=str), problem, f"queue {str(queue)!r}")
        return original_deliver(self, message, queue)

    transport._deliver = _deliver
