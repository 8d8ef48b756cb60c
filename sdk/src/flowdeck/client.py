"""The REST API of a Flowdeck server, with the errors a person can act on.

The server and token come from `FLOWDECK_SERVER` / `FLOWDECK_TOKEN`, else
from the file `flowdeck login` wrote (`$FLOWDECK_CONFIG`, else
`$XDG_CONFIG_HOME/flowdeck/config.json`, mode 0600).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests


class FlowdeckError(Exception):
    """A failure to report to a person in one sentence (and exit non-zero)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NotLoggedIn(FlowdeckError):
    """No credentials, or the server refused the token (401)."""


class Refused(FlowdeckError):
    """403: the server's sentence says which role is needed."""


class NotFound(FlowdeckError):
    """404: it does not exist, or it is in a project you are not in."""


class Conflict(FlowdeckError):
    """409: the state forbids it (retrying a running run...)."""


class Invalid(FlowdeckError):
    """400 with the problems at their paths."""

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        lines = [message] + [
            f"  {e.get('path') or '(document)'}: {e.get('message')}" for e in errors
        ]
        super().__init__("\n".join(lines), status=400)
        self.errors = errors


def config_path() -> Path:
    explicit = os.environ.get("FLOWDECK_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config"
    )
    return Path(base) / "flowdeck" / "config.json"


def read_config() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise FlowdeckError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def write_config(data: Mapping[str, Any]) -> Path:
    """Keep the credentials readable by this account only (0600)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(dict(data), out, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def normalise_server(server: str) -> str:
    server = server.strip().rstrip("/")
    if "://" not in server:
        server = f"http://{server}"
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FlowdeckError(f"{server!r} is not a server address (http://host:port)")
    return server


class Client:
    """One server and one token."""

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30,
    ) -> None:
        config = read_config() if server is None or token is None else {}
        server = server or os.environ.get("FLOWDECK_SERVER") or config.get("server")
        if not server:
            raise NotLoggedIn(
                "no Flowdeck server: run `flowdeck login SERVER` "
                "(or set FLOWDECK_SERVER and FLOWDECK_TOKEN)"
            )
        self.server = normalise_server(server)
        # The saved token only goes to the server it was made for.
        saved = config.get("token") if config.get("server") == self.server else None
        self.token = token or os.environ.get("FLOWDECK_TOKEN") or saved
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "flowdeck-sdk"
        if self.token:
            self.session.headers["Authorization"] = f"Token {self.token}"

    @classmethod
    def of(cls, server: str | Client | None) -> Client:
        return server if isinstance(server, Client) else cls(server)

    def url(self, path: str) -> str:
        return self.server + path

    def ws_url(self, path: str) -> str:
        scheme, rest = self.server.split("://", 1)
        return ("wss" if scheme == "https" else "ws") + "://" + rest + path

    # Transport

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        auth: bool = True,
    ) -> requests.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        if auth and not self.token:
            raise NotLoggedIn(f"not logged in to {self.server}: run `flowdeck login`")
        try:
            response = self.session.request(
                method,
                self.url(path),
                json=json_body,
                data=data,
                params=params,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.ConnectionError:
            raise FlowdeckError(
                f"cannot reach the Flowdeck server at {self.server}: is it running, "
                "and is the address right?"
            ) from None
        except requests.Timeout:
            raise FlowdeckError(
                f"the Flowdeck server at {self.server} did not answer in "
                f"{self.timeout:g} s"
            ) from None
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def _error(self, response: requests.Response) -> FlowdeckError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = body.get("detail") if isinstance(body, dict) else None
        if status == 401:
            why = f" ({detail})" if detail else ""
            return NotLoggedIn(
                f"the server at {self.server} refused the token{why}: "
                "run `flowdeck login`",
                status=status,
            )
        if status == 403:
            return Refused(detail or "permission refused", status=status)
        if status == 404:
            return NotFound(detail or "not found", status=status)
        if status == 409:
            return Conflict(detail or "refused in this state", status=status)
        if status == 400 and isinstance(body, dict):
            errors = body.get("errors")
            if isinstance(errors, list):
                return Invalid(str(detail or "invalid"), errors)
            problems = [
                {"path": key, "message": "; ".join(map(str, value))}
                if isinstance(value, list)
                else {"path": key, "message": str(value)}
                for key, value in body.items()
                if key != "detail"
            ]
            return Invalid(str(detail or "the server refused the request"), problems)
        if status == 429:
            wait = response.headers.get("Retry-After", "")
            return FlowdeckError(
                (detail or "too many requests")
                + (f" (retry after {wait} s)" if wait else ""),
                status=status,
            )
        return FlowdeckError(
            f"the server answered {status}: {detail or response.text[:200]}",
            status=status,
        )

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        response = self.request("POST", path, json_body=body, params=clean)
        return response.json() if response.content else None

    def pages(
        self, path: str, key: str = "results", **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list (its items under `key`)."""
        page: Any = self.get(path, **params)
        while True:
            yield from page[key]
            if not page.get("next"):
                return
            response = self.session.get(page["next"], timeout=self.timeout)
            if response.status_code >= 400:
                raise self._error(response)
            page = response.json()

    # Authentication

    def login(self, username: str, password: str) -> dict[str, Any]:
        response = self.request(
            "POST",
            "/api/auth/token/",
            json_body={"username": username, "password": password},
            auth=False,
        )
        body: dict[str, Any] = response.json()
        self.token = body["token"]
        self.session.headers["Authorization"] = f"Token {self.token}"
        return body

    def ws_ticket(self) -> str:
        return str(self.post("/api/ws-ticket/")["ticket"])

    # Workflows

    def projects(self) -> list[dict[str, Any]]:
        return list(self.pages("/api/projects/"))

    def workflow(
        self, name_or_id: str | int, project: str | None = None
    ) -> dict[str, Any]:
        """A workflow by id, or by its name (in `project` when given)."""
        if isinstance(name_or_id, int) or str(name_or_id).isdigit():
            return dict(self.get(f"/api/workflows/{name_or_id}/"))
        found = [
            w
            for w in self.pages("/api/workflows/", name=name_or_id, project=project)
            if w["name"] == name_or_id
        ]
        if not found:
            where = f" in project {project!r}" if project else ""
            raise NotFound(f"no workflow named {name_or_id!r}{where}")
        if len(found) > 1:
            projects = ", ".join(sorted(w["project"]["name"] for w in found))
            raise FlowdeckError(
                f"workflows named {name_or_id!r} are in several projects "
                f"({projects}): say which with --project"
            )
        return dict(self.get(f"/api/workflows/{found[0]['id']}/"))

    def apply(
        self,
        document: Mapping[str, Any],
        *,
        project: str | None = None,
        message: str = "",
    ) -> tuple[dict[str, Any], str]:
        """Create the workflow named in `document`, or save it as a new
        version of the existing one: (the workflow, "created" | "updated" |
        "unchanged"). The server keeps the current version when the document
        did not change."""
        name = (
            document.get("metadata", {}).get("name")
            if isinstance(document, Mapping)
            else None
        )
        existing = None
        if isinstance(name, str) and name:
            try:
                existing = self.workflow(name, project)
            except NotFound:
                existing = None
        params = {"message": message or None}
        if existing is None:
            created = self.request(
                "POST",
                "/api/workflows/",
                json_body=dict(document),
                params={**params, "project": project} if project else params,
            ).json()
            return dict(created), "created"
        before = (existing.get("latest_version") or {}).get("number")
        updated = self.request(
            "PUT",
            f"/api/workflows/{existing['id']}/",
            json_body=dict(document),
            params={k: v for k, v in params.items() if v},
        ).json()
        after = (updated.get("latest_version") or {}).get("number")
        state = "unchanged" if after == before else "updated"
        return dict(updated), state

    def start_run(
        self,
        workflow_id: int,
        parameters: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"parameters": dict(parameters or {})}
        if version is not None:
            body["version"] = version
        return dict(self.post(f"/api/workflows/{workflow_id}/runs/", body))

    def run(self, run_id: int, *, tasks: bool = False) -> dict[str, Any]:
        """The run with its task summary; with `tasks`, every task too (under
        "tasks", read a page at a time: a run may have 10,000)."""
        detail = dict(self.get(f"/api/runs/{run_id}/"))
        if tasks:
            detail["tasks"] = list(self.run_tasks(run_id))
        return detail

    def run_tasks(
        self,
        run_id: int,
        *,
        status: str | None = None,
        search: str | None = None,
        group: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The run's tasks in topological order, each with its attempts;
        `status` (comma-separated), `search` (part of the name) and `group`
        (a fan-out's instances) narrow them."""
        yield from self.pages(
            f"/api/runs/{run_id}/tasks/",
            "tasks",
            status=status,
            search=search,
            group=group,
            limit=1000,
        )

    def task_outputs(self, run_id: int, task: str) -> dict[str, Any]:
        return dict(
            self.get(f"/api/runs/{run_id}/tasks/{quote(task, safe='')}/outputs/")
        )

    def log(
        self, run_id: int, task: str, attempt: int | None = None
    ) -> tuple[str, str]:
        """(the attempt's log, waiting | live | complete)."""
        response = self.request(
            "GET",
            f"/api/runs/{run_id}/tasks/{quote(task, safe='')}/logs/",
            params={"attempt": attempt} if attempt else None,
        )
        return response.text, response.headers.get("X-Flowdeck-Log-Status", "")
