"""The AWS deployment (deploy/aws/ecs-fargate.yaml, cfn-lint clean in `make lint`) and the image, checked without
AWS or a Docker engine: what each service runs, the task role's policies, the cache, the secrets, the health
checks; the image's HEALTHCHECK run against a web that answers and one that does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cfnlint.decode import cfn_yaml

from tests.helpers import ROOT
from tests.test_deploy import compose, procfile

TEMPLATE = ROOT / "deploy/aws/ecs-fargate.yaml"


def resources() -> dict[str, Any]:
    return dict(cfn_yaml.load(str(TEMPLATE))["Resources"])


def test_each_service_runs_its_procfile_entry_in_its_own_task() -> None:
    found = resources()
    for name, command in procfile().items():
        task = found[f"{name.capitalize()}Task"]["Properties"]
        (container,) = task["ContainerDefinitions"]
        assert container["Command"] == ["sh", "-c", command]
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        secrets = {s["Name"] for s in container["Secrets"]}
        assert secrets == {"REDIS_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_SECRET"}  # not env
        env = {e["Name"] for e in container["Environment"]}
        assert not env & (secrets | {"AWS_ACCESS_KEY_ID"})
        assert "SLACK_CLIENT_ID" in env  # empty: one workspace's token; set: OAuth installs
        service = found[f"{name.capitalize()}Service"]["Properties"]
        assert service["TaskDefinition"] == {"Ref": f"{name.capitalize()}Task"}
    assert "TaskRoleArn" not in found["WebTask"]["Properties"]  # the web calls no AWS API
    assert all(found[f"{n}Task"]["Properties"]["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
               for n in ("Worker", "Clock", "Events"))  # fmt: skip


def test_the_task_role_carries_exactly_the_projects_policies() -> None:
    policies = resources()["TaskRole"]["Properties"]["Policies"]
    files = sorted(p.stem for p in (ROOT / "deploy/iam").glob("*.json"))
    assert sorted(p["PolicyName"] for p in policies) == files
    for policy in policies:
        text = json.dumps(policy["PolicyDocument"])  # the one account-specific ARN, as the file writes it
        text = text.replace('{"Fn::Sub": "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:trail-audit-events"}',
                            '"arn:aws:sqs:REGION:ACCOUNT:trail-audit-events"')  # fmt: skip
        assert json.loads(text) == json.loads((ROOT / f"deploy/iam/{policy['PolicyName']}.json").read_text())


def test_the_web_is_behind_tls_with_health_checks_and_workers_scale_on_the_queue() -> None:
    found = resources()
    assert found["WebTargets"]["Properties"]["HealthCheckPath"] == "/healthz"
    assert found["HttpsListener"]["Properties"]["Protocol"] == "HTTPS"
    redirect = found["HttpListener"]["Properties"]["DefaultActions"][0]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert "/healthz" in json.dumps(found["WebTask"]["Properties"]["ContainerDefinitions"][0]["HealthCheck"])
    spec = found["WorkerScalingOnQueueDepth"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    metric = spec["CustomizedMetricSpecification"]
    assert (metric["Namespace"], metric["MetricName"]) == ("TrailAudit", "JobsWaitingPerWorker")
    env = {e["Name"]: e["Value"] for e in found["ClockTask"]["Properties"]["ContainerDefinitions"][0]["Environment"]}
    assert env["TRAIL_AUDIT_QUEUE_METRIC_NAMESPACE"] == "TrailAudit"  # the clock publishes what scaling reads
    assert found["ClockService"]["Properties"]["DesiredCount"] == {"Ref": "ClockCount"}


def test_the_cache_is_valkey_with_tls_auth_and_multi_az_failover_and_every_process_waits_for_a_replica() -> None:
    found = resources()
    cache = found["Cache"]["Properties"]
    assert cache["Engine"] == "valkey" and cache["TransitEncryptionEnabled"] and cache["AtRestEncryptionEnabled"]
    assert cache["AutomaticFailoverEnabled"] and cache["MultiAZEnabled"] and cache["NumCacheClusters"] >= 3
    assert "resolve:secretsmanager" in json.dumps(cache["AuthToken"])
    assert json.dumps(found["RedisUrl"]["Properties"]["SecretString"]).startswith('{"Fn::Sub": "rediss://:')
    for name in procfile():
        env = {e["Name"]: e["Value"] for e in found[f"{name.capitalize()}Task"]["Properties"]["ContainerDefinitions"][0]
               ["Environment"]}  # fmt: skip
        assert env["REDIS_WAIT_REPLICAS"] == "1"


def test_compose_runs_two_workers_and_two_clocks_on_valkey() -> None:
    services = compose()["services"]
    assert services["worker"]["deploy"]["replicas"] == 2 and services["clock"]["deploy"]["replicas"] == 2
    assert services["redis"]["image"].startswith("valkey/valkey:")


def healthcheck() -> list[str]:
    """The Dockerfile's HEALTHCHECK command (exec form)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    return list(json.loads(line.split(" CMD ", 1)[1]))


def test_the_image_builds_from_the_lock_as_a_non_root_user_with_a_health_check_that_works() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "-r requirements.lock" in text and "USER 10001" in text
    assert healthcheck()[0] == "python" and "/healthz" in healthcheck()[-1]

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        argv = [sys.executable, *healthcheck()[1:]]
        env = {**os.environ, "PORT": str(server.server_address[1])}
        assert subprocess.run(argv, env=env, capture_output=True, timeout=20).returncode == 0
    finally:
        server.shutdown()
        server.server_close()
    assert subprocess.run(argv, env=env, capture_output=True, timeout=20).returncode != 0  # nobody answers
