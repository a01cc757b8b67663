"""docker-compose.yml: no default secret, random secrets from `workbench init-env`, ports on
127.0.0.1 only, Redis with a password, Flower behind a login, and each service holding only the
secrets it needs. Checked with Debian's docker-compose (it validates without an engine), on the
configuration it resolves, not on the file's text alone."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from wb_cluster import ROOT

SECRETS = ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "REDIS_PASSWORD",
           "JUPYTER_TOKEN", "FLOWER_BASIC_AUTH")
WORKERS = ("worker-ingest", "worker-transform", "worker-persist", "worker-notebooks",
           "worker-maintenance")


def _compose(*args: str, env_file: Path | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is needed (apt-get install -y docker-compose; .ci/run does it)"
    argv = [exe] + (["--env-file", str(env_file)] if env_file else []) + \
        ["-f", str(ROOT / "docker-compose.yml"), *args]
    # an empty working folder: no stray .env next to the caller is read
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin"})


def _init_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    from workbench.cli import main

    assert main(["init-env", str(tmp_path / "deploy")]) == 0
    env_file = tmp_path / "deploy" / ".env"
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                  if line and not line.startswith("#"))
    return env_file, values


@pytest.fixture(scope="module")
def resolved(tmp_path_factory):
    env_file, values = _init_env(tmp_path_factory.mktemp("compose"))
    out = _compose("config", env_file=env_file)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout), values


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def _mounts(service: dict) -> str:
    return json.dumps(service.get("volumes") or [])


def test_compose_refuses_to_start_without_a_env(tmp_path):
    out = _compose("config", "-q")
    assert out.returncode != 0
    assert "workbench init-env" in out.stderr


def test_init_env_writes_random_private_secrets_and_keys(tmp_path):
    env_file, values = _init_env(tmp_path)
    assert env_file.stat().st_mode & 0o777 == 0o600
    for name in SECRETS:
        assert len(values[name]) >= 16, name
    assert len({values[n] for n in SECRETS}) == len(SECRETS)  # no secret reused
    keys = Path(values["WORKBENCH_KEYS_HOST_DIR"])
    assert (keys / "worker.key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (keys / "certs").iterdir()) == ["client.pem", "worker.pem"]
    _, again = _init_env(tmp_path / "other")
    assert not set(values[n] for n in SECRETS) & set(again[n] for n in SECRETS)
    from workbench.cli import main

    assert main(["init-env", str(tmp_path / "deploy"), "--json"]) == 1  # never overwritten


def test_compose_validates_with_the_generated_env(tmp_path):
    env_file, _ = _init_env(tmp_path)
    out = _compose("config", "-q", env_file=env_file)
    assert out.returncode == 0, out.stderr


def test_compose_validates_with_a_relative_keys_folder(tmp_path):
    """A keys folder given as a relative path (``keys``, a placeholder) is a bind mount of that
    path, not a named volume compose refuses as undeclared."""
    env_file, values = _init_env(tmp_path)
    env_file.write_text(env_file.read_text().replace(values["WORKBENCH_KEYS_HOST_DIR"], "keys"))
    out = _compose("config", env_file=env_file)
    assert out.returncode == 0, out.stderr
    worker = yaml.safe_load(out.stdout)["services"]["worker-ingest"]
    assert {"type": "bind", "source": "keys/worker.key", "target": "/etc/workbench/keys/worker.key",
            "read_only": True} in worker["volumes"]


def test_no_secret_has_a_default_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    for name in SECRETS + ("WORKBENCH_KEYS_HOST_DIR",):
        uses = re.findall(r"\$\{" + name + r"(:?[-?=+]?)", text)
        assert uses and all(u == ":?" for u in uses), (name, uses)
    for default in ("admin:workbench", "workbench-secret", "minioadmin", "token=workbench"):
        assert default not in text


def test_every_published_port_is_on_127_0_0_1(resolved):
    config, _ = resolved
    published = []
    for name, svc in config["services"].items():
        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                published.append((name, port.get("host_ip")))
            else:
                published.append((name, str(port).split(":")[0]))
    assert published and all(ip == "127.0.0.1" for _, ip in published), published


def test_redis_requires_its_password_and_every_broker_url_carries_it(resolved):
    config, values = resolved
    redis = config["services"]["redis"]
    assert "--requirepass" in redis["command"]
    assert redis["command"][redis["command"].index("--requirepass") + 1] == values["REDIS_PASSWORD"]
    assert "ports" not in redis  # the broker is reached inside the compose network only
    for name, svc in config["services"].items():
        broker = _env(svc).get("WORKBENCH_BROKER_URL")
        if broker:
            assert broker.startswith(f"redis://:{values['REDIS_PASSWORD']}@redis:"), name


def test_flower_requires_a_login(resolved):
    config, values = resolved
    assert _env(config["services"]["flower"])["FLOWER_BASIC_AUTH"] == values["FLOWER_BASIC_AUTH"]
    assert "FLOWER_UNAUTHENTICATED_API" not in _env(config["services"]["flower"])


def test_each_service_gets_only_the_secrets_it_needs(resolved):
    config, values = resolved
    services = config["services"]

    def holds(name: str) -> set[str]:
        env = json.dumps(_env(services[name]))
        return {s for s in SECRETS if values[s] in env}

    for w in WORKERS:
        assert holds(w) == {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD",
                            "REDIS_PASSWORD"}, w
        assert "worker.key" in _mounts(services[w]) and "client.key" not in _mounts(services[w])
        assert _env(services[w])["WORKBENCH_ROLE"] == "worker"
    assert holds("beat") == {"REDIS_PASSWORD"}
    assert holds("flower") == {"REDIS_PASSWORD", "FLOWER_BASIC_AUTH"}
    assert holds("jupyterlab") == {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD",
                                   "REDIS_PASSWORD", "JUPYTER_TOKEN"}
    for client in ("flower", "jupyterlab"):
        assert "client.key" in _mounts(services[client])
        assert "worker.key" not in _mounts(services[client])  # a client never signs as a worker
    assert holds("postgres") == {"POSTGRES_PASSWORD"}
    assert holds("redis") == {"REDIS_PASSWORD"}
    assert holds("minio") == holds("minio-init") == {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}


def test_env_example_holds_no_secret_values():
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        assert name not in SECRETS, f"{name} belongs to `workbench init-env`, not .env.example"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_the_workbench_containers_run_as_uid_1000(resolved):
    """The README's chown of the keys folder to 1000 holds only while no service runs as root."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    user_lines = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert user_lines == ["workbench"]  # the image's last word on the user, after every install
    assert any("useradd" in ln and "--uid 1000 workbench" in ln for ln in lines)
    config, _ = resolved
    ours = [n for n, s in config["services"].items() if str(s.get("image", "")).startswith("workbench:")]
    assert set(WORKERS) | {"beat", "flower", "jupyterlab"} <= set(ours)
    for name in ours:
        assert config["services"][name].get("user") in (None, "1000", "1000:1000", "workbench"), name
