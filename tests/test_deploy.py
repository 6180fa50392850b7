"""What can be checked of the container setup without a Docker engine."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): cmd.strip() for name, cmd in (line.split(":", 1) for line in lines if ":" in line)}


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_exactly_the_procfile_commands() -> None:
    services = compose()["services"]
    entries = procfile()
    assert set(entries) == {"web", "worker", "clock"}
    for name in entries:
        assert services[name]["command"] == ["sh", "-c", entries[name]]
    assert {services[name]["image"] for name in entries} == {"trail-audit"}  # one image


def test_redis_persists_with_append_only_file_on_a_volume() -> None:
    doc = compose()
    redis = doc["services"]["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in doc["volumes"]


def test_dockerfile_default_command_is_the_web_entry() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert procfile()["web"] in text and "USER " in text
