"""Operator commands: ``keys init`` (signing keys) and ``init-env`` (a compose ``.env``)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import ConfigError
from ..worker.signing import KeyFiles, describe, init_keys
from .output import add_command as _add
from .output import output


def register(sub) -> None:
    p = _add(sub, "keys", cmd_keys, "signing keys for task messages (workers trust only these)")
    p.add_argument("action", choices=["init", "show"],
                   help="init: write a worker and a client key pair; show: list them and their expiry")
    p.add_argument("dir", help="folder for the keys (then set WORKBENCH_KEYS_DIR to it)")
    p.add_argument("--force", action="store_true", help="replace keys that exist")

    p = _add(sub, "init-env", cmd_init_env,
             "write a docker-compose .env with random passwords and tokens, and signing keys")
    p.add_argument("dir", nargs="?", default=".", help="where .env and keys/ go (default: here)")
    p.add_argument("--force", action="store_true", help="replace a .env that exists")


def cmd_keys(args) -> int:
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


def _token() -> str:
    # hex: safe inside URLs (the broker URL carries the Redis password) and shell files
    return secrets.token_hex(24)


def env_file_text(keys_dir: Path) -> str:
    """The secrets docker-compose.yml asks for (``${VAR:?}``), each random, plus the key folder."""
    flower_user = "admin"
    values = {
        "POSTGRES_USER": "workbench",
        "POSTGRES_PASSWORD": _token(),
        "POSTGRES_DB": "workbench",
        "MINIO_ROOT_USER": f"workbench-{secrets.token_hex(4)}",
        "MINIO_ROOT_PASSWORD": _token(),
        "REDIS_PASSWORD": _token(),
        "JUPYTER_TOKEN": _token(),
        "FLOWER_BASIC_AUTH": f"{flower_user}:{_token()}",
        "WORKBENCH_KEYS_HOST_DIR": str(keys_dir),
    }
    lines = ["# Written by `workbench init-env`: random secrets for docker-compose.yml. Keep this",
             "# file private (mode 0600) and out of version control; run it again with --force",
             "# for new ones. Other settings: see .env.example.", ""]
    lines += [f"{k}={v}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def cmd_init_env(args) -> int:
    base = Path(args.dir).expanduser().absolute()
    env_path = base / ".env"
    if env_path.exists() and not args.force:
        raise ConfigError(f"{env_path} exists",
                          hint="keep it, or pass --force to write new secrets (then recreate "
                               "every container)")
    base.mkdir(parents=True, exist_ok=True)
    keys_dir = base / "keys"
    if not KeyFiles(keys_dir, "worker").key.exists() or args.force:
        init_keys(keys_dir, force=args.force)
    fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(env_file_text(keys_dir))
    os.chmod(env_path, 0o600)
    info = {"env_file": str(env_path), "keys_dir": str(keys_dir)}
    output(args, info, f"wrote {env_path} (random secrets) and signing keys in {keys_dir}\n"
                       "next: docker compose up -d")
    return 0


__all__ = ["env_file_text", "register"]
