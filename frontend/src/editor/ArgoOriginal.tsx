// A version's Argo original in the history (docs/frontend.md, "Argo Workflows"):
// `GET /api/workflows/{id}/versions/{n}/` keeps what the version was
// converted from in its `source`.
import { useEffect, useState } from "react";

import { api } from "../common/api";
import type { ArgoSource } from "./argo";

/** A version's Argo original, read when shown: read-only, as it was given
 * (text, never markup), with a button that copies it. */
export function ArgoOriginal({ workflowId, number }: { workflowId: number; number: number }) {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState("");
  const [copied, setCopied] = useState("");
  useEffect(() => {
    api<{ source: ArgoSource | null }>(`/api/workflows/${workflowId}/versions/${number}/`)
      .then((version) => setText(version.source?.text ?? ""))
      .catch((failure) => setError(String(failure instanceof Error ? failure.message : failure)));
  }, [workflowId, number]);
  const copy = async () => {
    if (text === null) return;
    try {
      await navigator.clipboard.writeText(text);
      setCopied("Copied.");
    } catch {
      setCopied("The browser did not allow copying: select the text and copy it.");
    }
  };
  if (error) {
    return (
      <p role="alert" className="fd-field-errors">
        {error}
      </p>
    );
  }
  if (text === null) return <p className="fd-hint">Loading the original…</p>;
  return (
    <div className="fd-original" data-testid="argo-original">
      <p className="fd-hint">The Argo document v{number} was converted from, as it was imported (kept with the version).</p>
      <pre className="fd-source" tabIndex={0} aria-label={`The Argo original of v${number}`}>
        {text}
      </pre>
      <div className="fd-row">
        <button type="button" onClick={() => void copy()}>
          Copy the original
        </button>
        <span role="status" className="fd-hint">
          {copied}
        </span>
      </div>
    </div>
  );
}
