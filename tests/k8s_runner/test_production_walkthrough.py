"""docs/production.md, followed command by command: the page's shell blocks
are read in order, each must be one this test knows, and each is done here
against the suite's PostgreSQL (a fresh database), Redis (a database of its
own), and kube-apiserver with the kubelet simulator.

What stands in for what (the page's last section says it too): the overlay is
rendered by tests/k8s_runner/kustomize.py and sent as `kubectl apply` would;
no controller-manager runs, so each Deployment's and the Job's container
command is run here as a local process with the rendered ConfigMap and the
Secret as its environment (a kubeconfig instead of the in-cluster account, a
temporary directory as the data volume); the test sends what the TLS proxy
would (the host name, X-Forwarded-Proto, X-Forwarded-For); the simulator plays
the task pods. Step 1 (docker build) is not run: no Docker here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.k8s_runner.kube_cluster import self_signed_certificate
from tests.k8s_runner.kubelet_sim import KubeletSimulator
from tests.k8s_runner.kustomize import poster, render
from tests.k8s_runner.test_deploy_manifests import DEPLOY
from tests.net import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "production.md"
HOST = "flowdeck.example.com"
POD_IP = "10.244.0.17"
OVERLAY = "deploy/overlays/prod"


def page_blocks() -> list[tuple[str, str, str]]:
    """(language, the line before the block, the block) of every fenced block
    of the page, in order."""
    found = []
    lines = PAGE.read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = re.fullmatch(r"```(\w+)", lines[index])
        if fence is None:
            index += 1
            continue
        before = next((line for line in reversed(lines[:index]) if line.strip()), "")
        end = lines.index("```", index + 1)
        found.append((fence[1], before, "\n".join(lines[index + 1 : end])))
        index = end + 1
    return found


class Walk:
    """The installation being built, step by step."""

    def __init__(self, kube: Any, tmp_path: Path) -> None:
        self.kube = kube
        self.tmp = tmp_path
        # The only change to the page's overlay: a namespace of its own on the
        # suite's shared API server.
        self.namespace = f"flowdeck-walk-{secrets.token_hex(3)}"
        self.repo = tmp_path / "repo"
        (self.repo / "deploy").mkdir(parents=True)
        (self.repo / "deploy" / "kubernetes").symlink_to(DEPLOY)
        self.objects: list[dict[str, Any]] = []
        self.secret: dict[str, str] = {}
        self.processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.port = 0
        self.password = ""
        self.token = ""
        self.run_id = 0
        self.not_run: list[str] = []
        self.pods_seen: set[str] = set()

    # -- the local services -------------------------------------------------------

    def database_url(self) -> str:
        import psycopg

        server = os.environ["DATABASE_URL"]
        if not server.startswith("postgres"):
            pytest.skip("the walk-through needs the suite's PostgreSQL")
        name = f"flowdeck_walk_{secrets.token_hex(3)}"
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return server.rsplit("/", 1)[0] + "/" + name

    def redis_url(self) -> str:
        url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/7"
        redis.Redis.from_url(url).flushdb()
        return url

    # -- kubectl's part -------------------------------------------------------------

    def post(self, document: dict[str, Any], *, dry_run: bool) -> None:
        with self.kube.api_client() as api:
            poster(api)(document, dry_run=dry_run)

    def supported(self, document: dict[str, Any]) -> bool:
        """batch/v1 CronJob and policy/v1 PodDisruptionBudget came with
        Kubernetes 1.21; the test server is 1.20 (the strict schema tests hold
        them to 1.25 and 1.37)."""
        from kubernetes import client

        if document["apiVersion"] == "policy/v1":
            with self.kube.api_client() as api:
                groups = client.ApisApi(api).get_api_versions().groups
            if "policy/v1" not in {v.group_version for g in groups for v in g.versions}:
                self.not_run.append("a PodDisruptionBudget (policy/v1 needs 1.21)")
                return False
            return True
        if document["kind"] != "CronJob":
            return True
        with self.kube.api_client() as api:
            kinds = {
                r.kind for r in client.BatchV1Api(api).get_api_resources().resources
            }
        if "CronJob" not in kinds:
            self.not_run.append("the CronJob (batch/v1 needs Kubernetes 1.21)")
            return False
        return True

    def core(self) -> Any:
        return self.kube.core()

    # -- the pods' part ---------------------------------------------------------------

    def of_kind(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [
            o
            for o in self.objects
            if o["kind"] == kind and o["metadata"]["name"] == name
        ]
        return found

    def environment(self) -> dict[str, str]:
        settings = self.of_kind("ConfigMap", "flowdeck-settings")["data"]
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.tmp),
            "LANG": "C.UTF-8",
            **settings,
            **self.secret,
            # The shared volume, and the cluster from outside it.
            "FLOWDECK_DATA_DIR": str(self.tmp / "data"),
            "FLOWDECK_K8S_KUBECONFIG": str(self.kube.kubeconfig),
            "FLOWDECK_LOCAL_SANDBOX": "off",
        }

    def command_of(self, name: str, kind: str = "Deployment") -> list[str]:
        spec = self.of_kind(kind, name)["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["image"] == "registry.example.com/flowdeck:1.0.0"
        command = list(container["command"])
        if command[0] == "python":
            return [sys.executable, *command[1:]]
        if command[0] in ("daphne", "celery"):
            return [sys.executable, "-m", *command]
        return command

    def run_once(self, command: list[str]) -> str:
        if command[0] == "sh":
            # The migrate Job: `sh -c "python manage.py ... && ..."`.
            command = [
                "sh",
                "-c",
                command[2].replace("python ", f"{sys.executable} "),
            ]
        done = subprocess.run(
            command,
            env=self.environment(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self, name: str, command: list[str]) -> None:
        log = self.tmp / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                env=self.environment(),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((name, process, log))

    def stop(self) -> None:
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}:\n{log.read_text(errors='replace')[-3000:]}"
            for name, _, log in self.processes
        )

    # -- HTTP, as the kubelet and the proxy send it ----------------------------------

    def http(
        self,
        method: str,
        path: str,
        *,
        host: str = HOST,
        proxied: bool = True,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        sent = {"Host": host, **(headers or {})}
        if proxied:
            sent |= {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        if self.token:
            sent.setdefault("Authorization", f"Token {self.token}")
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers=sent,
        )
        opener = urllib.request.build_opener(NoRedirects)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, _headers(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, _headers(error.headers), error.read()

    def json(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, _, body = self.http(method, path, **kwargs)
        return status, json.loads(body)


def _headers(message: Any) -> dict[str, str]:
    """The headers, each Set-Cookie kept (a dict would keep the last)."""
    headers = dict(message)
    cookies = message.get_all("Set-Cookie") or []
    if cookies:
        headers["Set-Cookie"] = "\n".join(cookies)
    return headers


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- the steps, keyed by the page's shell blocks -----------------------------------


def build_image(walk: Walk) -> None:
    walk.not_run.append("docker build and push (no Docker here)")


def write_overlay(walk: Walk) -> None:
    """`mkdir -p deploy/overlays/prod`, then the page's files into it."""
    overlay = walk.repo / OVERLAY
    overlay.mkdir(parents=True)
    files = {
        match[1]: body
        for language, before, body in page_blocks()
        if language == "yaml" and (match := re.search(rf"`{OVERLAY}/([\w.]+)`", before))
    }
    assert set(files) == {"kustomization.yaml", "ingress.yaml"}
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    kustomization["namespace"] = walk.namespace
    settings = yaml.safe_load(kustomization["patches"][0]["patch"])
    settings["data"]["FLOWDECK_K8S_NAMESPACE"] = walk.namespace
    kustomization["patches"][0]["patch"] = yaml.safe_dump(settings)
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    (overlay / "ingress.yaml").write_text(files["ingress.yaml"])
    walk.objects = render(overlay)
    kinds = sorted(o["kind"] for o in walk.objects)
    assert "Secret" not in kinds and "Ingress" in kinds and len(kinds) == 16


def create_namespace_and_secrets(walk: Walk) -> None:
    from kubernetes import client

    namespace = yaml.safe_load((DEPLOY / "namespace.yaml").read_text())
    namespace["metadata"]["name"] = walk.namespace
    walk.post(namespace, dry_run=False)
    walk.secret = {
        "FLOWDECK_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": walk.database_url(),
        "REDIS_URL": walk.redis_url(),
    }
    cert, key = self_signed_certificate(HOST)
    core = walk.core()
    core.create_namespaced_secret(
        walk.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="flowdeck-secrets"),
            string_data=walk.secret,
        ),
    )
    core.create_namespaced_secret(
        walk.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="flowdeck-tls"),
            type="kubernetes.io/tls",
            string_data={"tls.crt": cert.decode(), "tls.key": key.decode()},
        ),
    )


def dry_run(walk: Walk) -> None:
    """`kubectl apply -k ... --dry-run=server`: the Namespace exists (step 3),
    every other object is accepted and nothing is stored."""
    for document in walk.objects:
        if document["kind"] != "Namespace" and walk.supported(document):
            walk.post(document, dry_run=True)
    names = [
        s.metadata.name
        for s in walk.core().list_namespaced_config_map(walk.namespace).items
    ]
    assert "flowdeck-settings" not in names


def apply_and_roll_out(walk: Walk) -> None:
    """`kubectl apply -k`, the migrate Job, then the Deployments' pods: their
    commands as local processes, and the readiness probe as the kubelet sends
    it (the pod's IP as Host)."""
    for document in walk.objects:
        if document["kind"] != "Namespace" and walk.supported(document):
            walk.post(document, dry_run=False)
    job = walk.of_kind("Job", "flowdeck-migrate")["spec"]["template"]["spec"]
    walk.run_once(job["containers"][0]["command"])
    walk.port = free_port()
    web = walk.command_of("flowdeck-web")
    web[web.index("0.0.0.0")] = "127.0.0.1"
    web[web.index("8000")] = str(walk.port)
    walk.start("web", web)
    walk.start("worker", walk.command_of("flowdeck-worker"))
    walk.start("beat", walk.command_of("flowdeck-beat"))
    walk.start("watcher", walk.command_of("flowdeck-watcher"))
    deadline = time.monotonic() + 90
    while True:
        try:
            status, body = walk.json(
                "GET", "/readyz", host=f"{POD_IP}:8000", proxied=False
            )
        except OSError:
            status, body = 0, None
        if status == 200:
            break
        for name, process, _ in walk.processes:
            assert process.poll() is None, f"{name} exited\n{walk.logs()}"
        assert time.monotonic() < deadline, f"never ready: {body}\n{walk.logs()}"
        time.sleep(0.5)
    assert body["checks"] == {"database": "ok", "broker": "ok", "artifact store": "ok"}
    assert walk.json("GET", "/healthz", host=f"{POD_IP}:8000", proxied=False)[0] == 200


def bootstrap(walk: Walk) -> None:
    printed = walk.run_once([sys.executable, "manage.py", "bootstrap"])
    found = re.search(r"Created user 'admin' with password: (\S+)", printed)
    assert found, printed
    walk.password = found[1]
    assert "made admin an admin of project default" in printed
    assert "loaded example workflow hello-diamond" in printed


def reach_through_the_proxy(walk: Walk) -> None:
    status, body = walk.json("GET", "/readyz")
    assert (status, body["status"]) == (200, "ok")
    # Without the proxy, plain HTTP is redirected (FLOWDECK_SECURE_COOKIES).
    status, headers, _ = walk.http("GET", "/api/workflows/", proxied=False)
    assert status == 301 and headers["Location"].startswith(f"https://{HOST}/")
    # A person signs in through the proxy: the CSRF check passes with the
    # https origin, and the session cookie is Secure.
    status, headers, page = walk.http("GET", "/login/")
    assert status == 200
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"])[1]
    form_token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    status, headers, body = walk.http(
        "POST",
        "/login/",
        data=urllib.parse.urlencode(
            {
                "username": "admin",
                "password": walk.password,
                "csrfmiddlewaretoken": form_token.decode(),
            }
        ).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
            "Origin": f"https://{HOST}",
            "Referer": f"https://{HOST}/login/",
        },
    )
    assert status == 302, body[:500]
    (session,) = [
        line
        for line in headers["Set-Cookie"].splitlines()
        if line.startswith("sessionid=")
    ]
    assert "Secure" in session and "HttpOnly" in session


def get_a_token(walk: Walk) -> None:
    status, body = walk.json(
        "POST",
        "/api/auth/token/",
        data=urllib.parse.urlencode(
            {"username": "admin", "password": walk.password}
        ).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    assert body["token"].startswith("fdk_")
    walk.token = body["token"]


def run_the_first_workflow(walk: Walk) -> None:
    status, body = walk.json("GET", "/api/workflows/?name=hello-diamond")
    assert status == 200 and body["count"] == 1, body
    workflow = body["results"][0]["id"]
    key = {"Idempotency-Key": "first-run"}
    status, run = walk.json("POST", f"/api/workflows/{workflow}/runs/", headers=key)
    assert status == 201, run
    assert (run["status"], run["dispatch"]) == ("Pending", "queued")
    status, headers, again = walk.http(
        "POST", f"/api/workflows/{workflow}/runs/", headers=key
    )
    assert status == 201 and headers["Idempotent-Replayed"] == "true"
    assert json.loads(again)["id"] == run["id"]
    walk.run_id = run["id"]


def watch_it_finish(walk: Walk) -> None:
    deadline = time.monotonic() + 120
    while True:
        for pod in (
            walk.core()
            .list_namespaced_pod(
                walk.namespace, label_selector="app.kubernetes.io/managed-by=flowdeck"
            )
            .items
        ):
            walk.pods_seen.add(pod.metadata.name)
        status, run = walk.json("GET", f"/api/runs/{walk.run_id}/")
        assert status == 200
        if run["status"] in ("Succeeded", "Failed", "Error", "Cancelled"):
            break
        assert time.monotonic() < deadline, f"run {run['status']}\n{walk.logs()}"
        time.sleep(0.3)
    assert run["status"] == "Succeeded", f"{run}\n{walk.logs()}"
    status, page = walk.json("GET", f"/api/runs/{walk.run_id}/tasks/")
    assert status == 200 and page["next"] is None
    run["tasks"] = page["tasks"]
    assert {t["name"]: t["status"] for t in run["tasks"]} == {
        "start": "Succeeded",
        "left": "Succeeded",
        "right": "Succeeded",
        "join": "Succeeded",
    }
    handles = {a["handle"] for t in run["tasks"] for a in t["attempts"]}
    assert {h.split("/")[0] for h in handles} == {walk.namespace}
    assert walk.pods_seen, "no task pod was ever seen"


STEPS: dict[str, Callable[[Walk], None]] = {
    "docker build -t registry.example.com/flowdeck:1.0.0 .\n"
    "docker push registry.example.com/flowdeck:1.0.0": build_image,
    "mkdir -p deploy/overlays/prod": write_overlay,
    "kubectl apply -f deploy/kubernetes/namespace.yaml\n"
    "kubectl -n flowdeck create secret generic flowdeck-secrets \\\n"
    "  --from-literal=FLOWDECK_SECRET_KEY=\"$(python3 -c 'import secrets; "
    "print(secrets.token_urlsafe(50))')\" \\\n"
    "  --from-literal=DATABASE_URL=postgres://flowdeck:PASSWORD@postgres.example.com"
    ":5432/flowdeck \\\n"
    "  --from-literal=REDIS_URL=redis://redis.example.com:6379/0\n"
    "kubectl -n flowdeck create secret tls flowdeck-tls --cert=flowdeck.crt "
    "--key=flowdeck.key": create_namespace_and_secrets,
    "kubectl apply -k deploy/overlays/prod --dry-run=server": dry_run,
    "kubectl apply -k deploy/overlays/prod\n"
    "kubectl -n flowdeck wait --for=condition=complete job/flowdeck-migrate "
    "--timeout=5m\n"
    "for name in web worker beat watcher; do kubectl -n flowdeck rollout status "
    "deployment/flowdeck-$name; done": apply_and_roll_out,
    "kubectl -n flowdeck exec deploy/flowdeck-web -- python manage.py bootstrap": (
        bootstrap
    ),
    "curl https://flowdeck.example.com/readyz": reach_through_the_proxy,
    "curl -d username=admin -d password=PASSWORD "
    "https://flowdeck.example.com/api/auth/token/": get_a_token,
    'curl -H "Authorization: Token $TOKEN" '
    '"https://flowdeck.example.com/api/workflows/?name=hello-diamond"\n'
    'curl -X POST -H "Authorization: Token $TOKEN" -H "Idempotency-Key: first-run" '
    "https://flowdeck.example.com/api/workflows/1/runs/": run_the_first_workflow,
    "kubectl -n flowdeck get pods -l app.kubernetes.io/managed-by=flowdeck\n"
    'curl -H "Authorization: Token $TOKEN" '
    "https://flowdeck.example.com/api/runs/1/": watch_it_finish,
}


def test_every_command_of_the_page_is_a_step_of_the_walk_through() -> None:
    commands = [body for language, _, body in page_blocks() if language == "sh"]
    unknown = [command for command in commands if command not in STEPS]
    assert not unknown, (
        f"docs/production.md has steps this test does not follow: {unknown}"
    )
    assert commands == list(STEPS), "the page and the walk-through differ in order"


@pytest.fixture
def walk(kube: Any, tmp_path: Path) -> Iterator[Walk]:
    if not kube.simulated:
        pytest.skip("the walk-through plays task pods with the kubelet simulator")
    walk = Walk(kube, tmp_path)
    try:
        yield walk
    finally:
        walk.stop()


def test_production_in_15_minutes(walk: Walk) -> None:
    commands = [body for language, _, body in page_blocks() if language == "sh"]
    with (
        walk.kube.api_client() as api,
        KubeletSimulator(api, walk.namespace, node_name="walk-node") as kubelet,
    ):
        for command in commands:
            STEPS[command](walk)
    assert not kubelet.errors
    assert sorted(walk.not_run) == sorted(
        [
            "docker build and push (no Docker here)",
            *(["the CronJob (batch/v1 needs Kubernetes 1.21)"] * 2),
            *(["a PodDisruptionBudget (policy/v1 needs 1.21)"] * 4),
        ]
    ) or walk.not_run == ["docker build and push (no Docker here)"]
