"""A long history: the runs list, `GET /api/runs/` with each filter, the
dashboard counts and a workflow's page with 1,000,000 finished runs in
PostgreSQL (3 task runs, 3 attempts and 10 events each).

The rows are made in PostgreSQL itself (`INSERT ... SELECT generate_series`),
in a cluster kept under --pgdata between invocations, started the way
tests/plugins/services.py starts the suite's: run once on the old code for the
baseline and once on the new, the data is the same. Every request goes
through Django's test client, logged in (a site admin, and a member of three
of the ten projects, so the role checks and the visibility filter are on);
each figure is the median of --repeat requests after one warm-up. The
slowest query of the slowest request is shown with EXPLAIN (ANALYZE, BUFFERS).

    .venv/bin/python benchmarks/history.py [--runs 1000000] [--repeat 7]
        [--pgdata ~/.cache/flowdeck/history-pg] [--stop]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROJECTS = 10
WORKFLOWS_PER_PROJECT = 10
USERS = 5
LIVE_RUNS = 200  # the newest runs are still Running or Pending
TASKS_PER_RUN = 3
EVENTS_PER_RUN = 10
DAYS = 365  # the history spans a year, oldest first
TARGET_MS = 200.0


def _bin(name: str) -> str:
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    raise SystemExit(f"{name} not found: install PostgreSQL")


def start_postgres(data: Path, port: int) -> str:
    """The cluster under `data` (made on first use), started on `port`: trust
    auth, fsync off, as tests/plugins/services.py starts the suite's."""
    run_as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if run_as:
            data.parent.chmod(0o777)
            subprocess.run(["chown", "nobody", str(data)], check=True)
        subprocess.run(
            [*run_as, _bin("initdb"), "-D", str(data), "-U", "flowdeck"]
            + ["-A", "trust", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    status = subprocess.run(
        [*run_as, _bin("pg_ctl"), "-D", str(data), "status"],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    if status.returncode != 0:
        options = (
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off "
            "-c shared_buffers=256MB -c max_wal_size=4GB"
        )
        subprocess.run(
            [*run_as, _bin("pg_ctl"), "-D", str(data), "-o", options]
            + ["-l", str(data / "server.log"), "-w", "start"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return f"postgres://flowdeck@127.0.0.1:{port}/postgres"


def stop_postgres(data: Path) -> None:
    run_as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*run_as, _bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"], check=False
    )


def configure(database_url: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "FLOWDECK_DATA_DIR": tempfile.mkdtemp(prefix="flowdeck-history-"),
            "FLOWDECK_LOG_LEVEL": "WARNING",
        }
    )
    for key in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(key, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]


def document(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "flowdeck.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "defaults": {"image": "none"},
            "tasks": [
                {"name": "extract", "command": ["true"]},
                {"name": "transform", "command": ["true"], "dependencies": ["extract"]},
                {"name": "load", "command": ["true"], "dependencies": ["transform"]},
            ],
        },
    }


def populate(runs: int) -> None:
    """Projects, workflows and users through the services; the runs and their
    rows in SQL, a year of them with the newest still live."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from workflows.models import Membership, Project, Role, Run
    from workflows.services.submit import create_workflow

    if Run.objects.exists():
        return
    users = get_user_model()
    admin = users.objects.create_superuser("admin", "admin@example.com", "x")
    people = [users.objects.create_user(f"user{i}") for i in range(USERS)]
    member = users.objects.create_user("member")
    for p in range(PROJECTS):
        project, _ = Project.objects.get_or_create(name=f"project-{p}")
        if p < 3:
            Membership.objects.create(project=project, user=member, role=Role.VIEWER)
        for w in range(WORKFLOWS_PER_PROJECT):
            create_workflow(document(f"flow-{p}-{w}"), author=admin, project=project)
    # One project keeps few runs (1 in 1,000): its filter finds rows far apart.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w.id, v.id FROM workflows_workflow w "
            "JOIN workflows_workflowversion v ON v.id = w.latest_version_id "
            "JOIN workflows_project p ON p.id = w.project_id "
            "WHERE p.name <> 'project-9' ORDER BY w.id"
        )
        common = cursor.fetchall()
        cursor.execute(
            "SELECT w.id, v.id FROM workflows_workflow w "
            "JOIN workflows_workflowversion v ON v.id = w.latest_version_id "
            "JOIN workflows_project p ON p.id = w.project_id "
            "WHERE p.name = 'project-9' ORDER BY w.id LIMIT 1"
        )
        rare = cursor.fetchone()
        workflow_ids = [row[0] for row in common]
        version_ids = [row[1] for row in common]
        user_ids = [person.pk for person in people]
        started = time.perf_counter()
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            INSERT INTO workflows_run (
                workflow_id, version_id, status, parameters, trigger,
                triggered_by_id, message, created_at, started_at, finished_at,
                last_seq, debug_task, parent_task, traceparent, depth, outputs,
                idempotency_key, idempotency_hash)
            SELECT
                CASE WHEN w < 0 THEN %(rare_w)s ELSE (%(wf)s::bigint[])[1 + w] END,
                CASE WHEN w < 0 THEN %(rare_v)s ELSE (%(ver)s::bigint[])[1 + w] END,
                CASE WHEN i > %(n)s - %(live)s THEN
                        (CASE WHEN i %% 2 = 0 THEN 'Running' ELSE 'Pending' END)
                     WHEN f < 0.02 THEN 'Failed'
                     WHEN f < 0.03 THEN 'Cancelled'
                     ELSE 'Succeeded' END,
                '{}'::jsonb,
                CASE WHEN i %% 3 = 0 THEN 'schedule' ELSE 'api' END,
                CASE WHEN i %% 3 = 0 THEN NULL
                     ELSE (%(users)s::bigint[])[1 + i %% %(nusers)s] END,
                CASE WHEN f < 0.02 THEN 'task load Failed' ELSE '' END,
                t, t + interval '1 second',
                CASE WHEN i > %(n)s - %(live)s THEN NULL
                     ELSE t + interval '20 seconds' END,
                %(events)s, '', '', '', 0, '{}'::jsonb, '', ''
            FROM (
                SELECT i,
                    now() - (%(days)s * interval '1 day') * (%(n)s - i) / %(n)s AS t,
                    -- 1 run in 1,000 is the rare project's (w = -1).
                    CASE WHEN random() < 0.001 THEN -1
                         ELSE floor(random() * %(nwf)s)::int END AS w,
                    random() AS f
                FROM generate_series(1, %(n)s) AS i
            ) AS s
            """,
            {
                "wf": workflow_ids,
                "ver": version_ids,
                "nwf": len(workflow_ids),
                "rare_w": rare[0],
                "rare_v": rare[1],
                "users": user_ids,
                "nusers": len(user_ids),
                "n": runs,
                "live": LIVE_RUNS,
                "events": EVENTS_PER_RUN,
                "days": DAYS,
            },
        )
        print(f"runs: {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO workflows_taskrun (
                run_id, name, status, position, priority, attempts_count,
                round_start, started_at, finished_at, reason, message,
                cpu_request_milli, memory_request_bytes, fan_group, fan_done,
                fan_failed)
            SELECT r.id, (ARRAY['extract', 'transform', 'load'])[k],
                CASE WHEN r.status = 'Failed' AND k = 3 THEN 'Failed'
                     WHEN r.finished_at IS NULL THEN 'Pending'
                     ELSE 'Succeeded' END,
                k - 1, 0, 1, 1, r.started_at, r.finished_at, '', '', 0, 0, '', 0, 0
            FROM workflows_run r CROSS JOIN generate_series(1, %s) AS k
            """,
            [TASKS_PER_RUN],
        )
        cursor.execute(
            """
            INSERT INTO workflows_attempt (
                task_run_id, number, status, backend, handle, request,
                created_at, started_at, finished_at, exit_code, reason, message,
                log_path)
            SELECT t.id, 1, t.status, 'local', '', '{}'::jsonb, t.started_at,
                t.started_at, t.finished_at,
                CASE WHEN t.status = 'Failed' THEN 1 ELSE 0 END, '', '', ''
            FROM workflows_taskrun t WHERE t.status <> 'Pending'
            """
        )
        print(f"tasks, attempts: {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO workflows_runevent (
                run_id, seq, kind, task, attempt, status, previous, message,
                data, created_at)
            SELECT r.id, k,
                CASE WHEN k IN (1, 10) THEN 'run' ELSE 'task' END,
                CASE WHEN k IN (1, 10) THEN ''
                     ELSE (ARRAY['extract', 'transform', 'load'])[1 + (k - 2) / 3]
                END,
                NULL, 'Succeeded', 'Running', '', '{}'::jsonb,
                r.created_at + k * interval '1 second'
            FROM workflows_run r CROSS JOIN generate_series(1, %s) AS k
            """,
            [EVENTS_PER_RUN],
        )
        print(f"events: {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")
        print(f"vacuum analyze: {time.perf_counter() - started:.0f} s", flush=True)


def _backend_cpu_seconds() -> float:
    """CPU time of this connection's PostgreSQL backend process so far."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, float] = {}  # label -> mean CPU ms a request (Django + PostgreSQL)


def median_ms(
    request: Callable[[], Any], repeat: int, label: str = ""
) -> tuple[float, Any]:
    """The median wall time of `repeat` requests after a warm-up; their mean
    CPU time (this process and its database backend: what the neighbours'
    load does not inflate) goes to CPU[label]."""
    response = request()  # warm-up (and the answer checked by the caller)
    times = []
    cpu_before = time.process_time() + _backend_cpu_seconds()
    for _ in range(repeat):
        started = time.perf_counter()
        request()
        times.append((time.perf_counter() - started) * 1e3)
    cpu = time.process_time() + _backend_cpu_seconds() - cpu_before
    CPU[label] = cpu * 1e3 / repeat
    return statistics.median(times), response


def cases() -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """(label, path, query, headers) of every request measured."""
    from workflows.models import Project, Workflow

    workflow = Workflow.objects.filter(name="flow-0-0").get()
    project = Project.objects.get(name="project-1")
    rare = Project.objects.get(name="project-9")
    week_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 7 * 86400))
    months_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 200 * 86400))
    json_accept = {"HTTP_ACCEPT": "application/json"}
    found: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
    filters: list[tuple[str, dict[str, str]]] = [
        ("none", {}),
        ("status=Failed", {"status": "Failed"}),
        ("status=Running", {"status": "Running"}),
        ("workflow", {"workflow": str(workflow.pk)}),
        ("workflow+status=Failed", {"workflow": str(workflow.pk), "status": "Failed"}),
        ("project", {"project": str(project.pk)}),
        ("project (rare: 0.1 %)", {"project": str(rare.pk)}),
        ("who", {"who": "user1"}),
        ("since (a week)", {"since": week_ago}),
        ("until (200 days ago)", {"until": months_ago}),
    ]
    for label, query in filters:
        found.append((f"page /runs/ {label}", "/runs/", query, {}))
    for label, query in filters:
        found.append((f"dashboard {label}", "/runs/", query, json_accept))
    for label, query in filters:
        found.append((f"api /api/runs/ {label}", "/api/runs/", query, {}))
    found.append(("workflow page", f"/workflows/{workflow.pk}/", {}, {}))
    found.append(("workflow list page", "/", {}, {}))
    return found


def measure(repeat: int, who: str) -> list[tuple[str, float]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username=who))
    rows = []
    slowest: tuple[float, str, str, dict[str, str], dict[str, str]] | None = None
    for label, path, query, headers in cases():
        ms, response = median_ms(
            lambda p=path, q=query, h=headers: client.get(p, q, **h),
            repeat,
            f"{who} {label}",
        )
        assert response.status_code == 200, (label, response.status_code)
        rows.append((label, ms))
        if slowest is None or ms > slowest[0]:
            slowest = (ms, label, path, query, headers)
        if path == "/api/runs/" and not query:
            body = response.json()
            for n in (2, 3):
                if not body.get("next"):
                    break
                next_url = body["next"]
                label = f"api /api/runs/ page {n} (following next)"
                ms, response = median_ms(
                    lambda u=next_url: client.get(u), repeat, f"{who} {label}"
                )
                rows.append((label, ms))
                body = response.json()
    assert slowest is not None
    ms, label, path, query, headers = slowest
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        client.get(path, query, **headers)
    print(
        f"\nslowest for {who}: {label} ({ms:.0f} ms median; "
        f"{len(captured.captured_queries)} queries, "
        f"{(time.perf_counter() - started) * 1e3:.0f} ms with capture)"
    )
    worst = max(captured.captured_queries, key=lambda q: float(q["time"]))
    print(f"its slowest query ({float(worst['time']) * 1e3:.0f} ms):\n{worst['sql']}")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + worst["sql"])
        print("\n".join(row[0] for row in cursor.fetchall()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--pgdata",
        type=Path,
        default=Path.home() / ".cache" / "flowdeck" / "history-pg",
    )
    parser.add_argument("--port", type=int, default=54329)
    parser.add_argument("--stop", action="store_true", help="stop the cluster after")
    args = parser.parse_args()
    url = start_postgres(args.pgdata, args.port)
    try:
        configure(url)
        from django.core.management import call_command
        from django.db import connection

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"migrate: {time.perf_counter() - started:.1f} s")
        populate(args.runs)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM workflows_run), "
                "(SELECT reltuples::bigint FROM pg_class "
                "WHERE relname = 'workflows_taskrun'), "
                "(SELECT reltuples::bigint FROM pg_class "
                "WHERE relname = 'workflows_runevent')"
            )
            runs, tasks, events = cursor.fetchone()
        print(f"{runs:,} runs, ~{tasks:,} task runs, ~{events:,} events")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        results = {who: measure(args.repeat, who) for who in ("admin", "member")}
        target = f"≤ {TARGET_MS:.0f} ms"
        print(
            "\n| request | admin median ms | member median ms "
            f"| admin / member CPU ms | {target} |"
        )
        print("|---|---:|---:|---:|---|")
        member = dict(results["member"])
        for label, ms in results["admin"]:
            other = member.get(label, float("nan"))
            ok = "yes" if max(ms, other) <= TARGET_MS else "**no**"
            cpu = f"{CPU[f'admin {label}']:.0f} / {CPU.get(f'member {label}', 0):.0f}"
            print(f"| {label} | {ms:.0f} | {other:.0f} | {cpu} | {ok} |")
    finally:
        if args.stop:
            stop_postgres(args.pgdata)


if __name__ == "__main__":
    main()
