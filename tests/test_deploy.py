"""What can be checked of the container setup without a Docker engine."""

from __future__ import annotations

import yaml

from tests.helpers import ROOT


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): cmd.strip() for name, cmd in (line.split(":", 1) for line in lines if ":" in line)}


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_exactly_the_procfile_commands() -> None:
    services = compose()["services"]
    entries = procfile()
    assert set(entries) == {"web", "worker", "clock", "events"}
    for name in entries:
        assert services[name]["command"] == ["sh", "-c", entries[name]]
    assert {services[name]["image"] for name in entries} == {"trail-audit"}  # one image
    # a killed process comes back (the watchdog then fails its abandoned job in Slack)
    assert all(services[name]["restart"] == "unless-stopped" for name in [*entries, "redis"])


def test_redis_persists_with_append_only_file_on_a_volume() -> None:
    doc = compose()
    redis = doc["services"]["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in doc["volumes"]


def test_dockerfile_default_command_is_the_web_entry() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert procfile()["web"] in text and "USER " in text


# Every Slack Web API method the code calls, and the bot scope it needs (None: no scope needed).
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "views_open": None,
    "views_publish": None,
    "files_upload_v2": "files:write",
    "usergroups_users_list": "usergroups:read",
    "users_info": "users:read",
}


def test_manifest_has_the_command_interactivity_and_only_the_scopes_the_code_needs() -> None:
    import json
    import re

    manifest = json.loads((ROOT / "manifest.json").read_text())
    command = manifest["features"]["slash_commands"][0]
    assert command["command"] == "/trail-audit" and command["url"].endswith("/slack/events")
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] and interactivity["request_url"].endswith("/slack/events")
    source = "\n".join(p.read_text() for d in ("bot", "workers") for p in (ROOT / d).rglob("*.py"))
    methods = r"client\.(chat_\w+|views_\w+|usergroups_\w+|conversations_\w+|users_\w+|files_\w+)\b"
    called = set(re.findall(methods, source))
    assert called <= set(SCOPES), f"add the scope of {called - set(SCOPES)} here and to manifest.json"
    needed = {"commands"} | {SCOPES[m] for m in called if SCOPES[m]}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed
    assert manifest["features"]["app_home"]["home_tab_enabled"]  # the App Home, drawn on app_home_opened
    events = manifest["settings"]["event_subscriptions"]
    # the Home; the end of an installation; the workflow steps
    assert events["bot_events"] == ["app_home_opened", "app_uninstalled", "function_executed", "tokens_revoked"]
    from bot.oauth import SCOPES as ASKED

    assert list(ASKED) == manifest["oauth_config"]["scopes"]["bot"]  # an OAuth install asks for exactly these
    assert [u.rsplit("/", 2)[-2:] for u in manifest["oauth_config"]["redirect_urls"]] == [["slack", "oauth_redirect"]]
    assert events["request_url"].endswith("/slack/events")
    from bot.listeners.functions import REQUEST_BACKOUT, RUN_AUDIT

    assert set(manifest["functions"]) == {RUN_AUDIT, REQUEST_BACKOUT}  # every step declared is listened to
    assert manifest["settings"]["org_deploy_enabled"] and manifest["settings"]["function_runtime"] == "remote"
