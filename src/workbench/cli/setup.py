"""Operator commands: ``keys init`` (signing keys) and ``init-env`` (a compose ``.env``)."""

from __future__ import annotations

from pathlib import Path

from .output import add_command as _add
from .output import output


def register(sub) -> None:
    p = _add(sub, "keys", cmd_keys, "signing keys for task messages (workers trust only these)")
    p.add_argument("action", choices=["init", "show"])
    p.add_argument("dir", help="folder for the keys (then set WORKBENCH_KEYS_DIR to it)")
    p.add_argument("--force", action="store_true", help="replace keys that exist")


def cmd_keys(args) -> int:
    from ..worker.signing import describe, init_keys

    if args.action == "init":
        info = init_keys(args.dir, force=args.force)
    else:
        info = describe(Path(args.dir).expanduser().absolute())

    def text() -> str:
        lines = [f"keys in {info['directory']} (set WORKBENCH_KEYS_DIR={info['directory']})"]
        for role, use in (("worker", "workers and beat"), ("client", "kernels, the CLI, Flower")):
            lines.append(f"  {role:<7} {info[role]['key']}  ({use}; certificate expires "
                         f"{info[role]['expires'][:10]})")
        lines.append(f"  trusted {info['store']}")
        return "\n".join(lines)

    output(args, info, text)
    return 0


__all__ = ["register"]
