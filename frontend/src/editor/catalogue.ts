// The project's workflows, for a task that runs one of them: their names and
// latest versions (GET /api/workflows/?project=, every page), and the latest
// document of each workflow the document calls (GET /api/workflows/{id}/),
// for its parameters and its outputs.
import { useEffect, useMemo, useRef, useState } from "react";

import { api } from "../common/api";
import { type Doc } from "./model";

export interface WorkflowSummary {
  id: number;
  name: string;
  description: string;
  latest_version: { number: number } | null;
}

export interface Catalogue {
  /** "none": no project chosen yet (a new workflow in several projects). */
  state: "none" | "loading" | "ready" | "error";
  error: string;
  workflows: WorkflowSummary[];
  /** The latest document of each called workflow read so far, by name. */
  documents: ReadonlyMap<string, Doc>;
  /** Read the list again (workflows were imported into the project). */
  reload: () => void;
}

interface Page {
  next: string | null;
  results: WorkflowSummary[];
}

/** More than this many pages of 50 is not a list anyone picks from. */
const MAX_PAGES = 40;

async function allWorkflows(project: string): Promise<WorkflowSummary[]> {
  const found: WorkflowSummary[] = [];
  let url: string | null = `/api/workflows/?project=${encodeURIComponent(project)}`;
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const answer: Page = await api<Page>(url);
    found.push(...answer.results);
    url = answer.next;
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

export function useCatalogue(project: string, wanted: string[]): Catalogue {
  const [list, setList] = useState<{ project: string; state: Catalogue["state"]; error: string; workflows: WorkflowSummary[] }>({
    project: "",
    state: "none",
    error: "",
    workflows: [],
  });
  const [documents, setDocuments] = useState<Map<string, Doc>>(new Map());
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    if (!project) {
      setList({ project, state: "none", error: "", workflows: [] });
      return;
    }
    let cancelled = false;
    setList((current) => ({ ...current, project, state: "loading", error: "" }));
    allWorkflows(project)
      .then((workflows) => !cancelled && setList({ project, state: "ready", error: "", workflows }))
      .catch((failure) => !cancelled && setList({ project, state: "error", error: String(failure instanceof Error ? failure.message : failure), workflows: [] }));
    return () => {
      cancelled = true;
    };
  }, [project, generation]);

  // Read each called workflow's latest document once (again when a newer
  // version appears in the list).
  const read = useRef(new Map<string, string>());
  const key = wanted.join("\n");
  useEffect(() => {
    for (const name of wanted) {
      const summary = list.workflows.find((workflow) => workflow.name === name);
      if (!summary) continue;
      const stamp = `${summary.id}:${summary.latest_version?.number ?? 0}`;
      if (read.current.get(name) === stamp) continue;
      read.current.set(name, stamp);
      api<{ document: Doc | null }>(`/api/workflows/${summary.id}/`)
        .then((detail) => {
          if (detail.document) setDocuments((current) => new Map(current).set(name, detail.document!));
        })
        .catch(() => read.current.delete(name)); // The picker still works; its parameters are not offered.
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, list.workflows]);

  return useMemo(
    () => ({ state: list.state, error: list.error, workflows: list.workflows, documents, reload: () => setGeneration((n) => n + 1) }),
    [list, documents],
  );
}
