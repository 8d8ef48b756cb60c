"""`flowdeck convert` and `flowdeck import`: Argo Workflows files as Flowdeck
workflows (docs/argo.md). Converting is offline, with the server's own
converter (flowcore.argo); importing sends each file to the server, which
saves its workflows (and a CronWorkflow's schedule) all or nothing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from flowcore.argo import ArgoError, Converted, convert_text
from flowcore.spec import dump_document, validate
from flowdeck.cli.output import emit, note, table
from flowdeck.client import Client, FlowdeckError, Invalid

SUFFIXES = (".yaml", ".yml", ".json")


def argo_files(target: Path) -> list[Path]:
    """The file, or every YAML or JSON file under the directory (sorted)."""
    if target.is_dir():
        return sorted(p for p in target.rglob("*") if p.suffix in SUFFIXES)
    if not target.exists():
        raise FlowdeckError(f"no such file or directory: {target}")
    return [target]


def _report(file: Path, result: Converted) -> list[str]:
    lines = []
    for item in result.notes:
        word = "cannot be imported" if item.essential else "note"
        lines.append(f"{file}: {item.path}: {word}: {item.message}")
    for error in [] if result.refused else validate(result.document):
        lines.append(
            f"{file}: workflow {result.name}: {error.path}: invalid: {error.message}"
        )
    return lines


def convert(args: argparse.Namespace) -> int:
    """Convert offline: each workflow as Flowdeck YAML (to --out, or stdout),
    the report on stderr; exit 1 if any file cannot be imported as it is."""
    target = Path(args.file)
    out = Path(args.out) if args.out else None
    failed = False
    printed: list[str] = []
    summary: list[dict[str, Any]] = []
    for file in argo_files(target):
        try:
            results = convert_text(file.read_bytes())
        except ArgoError as error:
            note(f"{file}: {error}")
            summary.append({"file": str(file), "error": str(error)})
            failed = True
            continue
        for result in results:
            lines = _report(file, result)
            for line in lines:
                note(line)
            refused = bool(result.refused) or any("invalid:" in x for x in lines)
            failed = failed or refused
            written = None
            if not refused:
                text = dump_document(result.document, blocks=True)
                if out is not None:
                    relative = file.parent.relative_to(
                        target if target.is_dir() else file.parent
                    )
                    written = out / relative / f"{result.name}.yaml"
                    written.parent.mkdir(parents=True, exist_ok=True)
                    written.write_text(text)
                else:
                    printed.append(text)
            summary.append(
                {
                    "file": str(file),
                    "kind": result.kind,
                    "workflow": result.name,
                    "written": str(written) if written else None,
                    "schedules": result.schedules,
                    "notes": [n.as_dict() for n in result.notes],
                    "imported": not refused,
                }
            )
    if out is None:
        print("---\n".join(printed), end="")
    elif args.output == "json":
        print(json.dumps(summary, indent=2))
    else:
        for item in summary:
            if item.get("written"):
                extra = (
                    f" (and {len(item['schedules'])} schedule(s): "
                    "`flowdeck import` creates them)"
                    if item["schedules"]
                    else ""
                )
                print(f"{item['file']} -> {item['written']}{extra}")
    return 1 if failed else 0


def import_files(args: argparse.Namespace, client: Client, project: str | None) -> int:
    """Send each file to the server's import; every file is tried, and the
    exit status is 1 if any was refused."""
    failed = False
    rows: list[dict[str, Any]] = []
    params = {
        "project": project,
        "replace": "true" if args.replace else None,
        "dry_run": "true" if args.dry_run else None,
        "message": args.message or None,
    }
    for file in argo_files(Path(args.file)):
        try:
            response = client.request(
                "POST",
                "/api/workflows/import/",
                data=file.read_bytes(),
                params={k: v for k, v in params.items() if v is not None},
                content_type="application/yaml",
            )
        except Invalid as refused:
            failed = True
            for problem in refused.errors:
                note(f"{file}: {problem.get('path')}: {problem.get('message')}")
            continue
        body = response.json()
        for item in body.get("workflows", body.get("documents", [])):
            for item_note in item.get("notes", []):
                note(f"{file}: {item_note['path']}: note: {item_note['message']}")
            state = (
                "checked"
                if args.dry_run
                else "created"
                if item.get("created")
                else "updated"
            )
            rows.append(
                {
                    "file": str(file),
                    "workflow": item["name"],
                    "version": item.get("version"),
                    "state": state,
                    "schedules": [s["name"] for s in item.get("schedules", [])],
                    "notes": len(item.get("notes", [])),
                }
            )
    emit(
        rows,
        args.output,
        lambda: table(
            rows,
            [
                ("file", lambda r: r["file"]),
                ("workflow", lambda r: r["workflow"]),
                ("version", lambda r: r["version"]),
                ("state", lambda r: r["state"]),
                ("schedules", lambda r: ", ".join(r["schedules"])),
                ("notes", lambda r: r["notes"]),
            ],
        ),
    )
    return 1 if failed else 0


def export_argo(
    client: Client, workflow: dict[str, Any], version: int, kind: str
) -> str:
    """The server's Argo export of the version, as YAML."""
    response = client.request(
        "GET",
        f"/api/workflows/{workflow['id']}/versions/{version}/export/",
        params={"format": "argo", "kind": kind},
    )
    return response.text
