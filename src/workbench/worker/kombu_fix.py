"""A workaround for the worker crash when Redis drops (Celery 5.7.0 / kombu 5.7.0).

With ``-c 2`` or more, one task running and a free slot polling, the worker's main process exits
the moment Redis goes away: ``Unrecoverable error: AttributeError("'NoneType' object has no
attribute 'hostname'")`` from kombu's ``QoS.restore_unacked``. Celery 5.7's
``on_connection_error_after_connected`` runs ``connection.collect()`` (which sets the transport's
``client`` to None) and then closes the connection again (celery/celery PR #10242, for #9705);
the second close restores unacked messages through ``Channel._connparams``, which reads
``self.connection.client.hostname``. No released fix is known (relatives: celery/kombu#582,
celery/kombu#970); the fix below was checked against 5 s, 40 s and 300 s outages.

Each Redis channel keeps its own reference to the connection info and puts it back when the
transport was collected, so the second close restores the unacked messages instead of crashing.
``apply()`` is idempotent and a no-op on a kombu whose channel has no ``_connparams``.
"""

from __future__ import annotations

from typing import Any

_APPLIED = False


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
    _APPLIED = True
    return True
