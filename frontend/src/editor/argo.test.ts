import { describe, expect, it } from "vitest";

import {
  type Converted,
  describeSchedule,
  documentTexts,
  exportFilename,
  exportUrl,
  isArgoText,
  needsChoice,
  refusedReport,
  reportOf,
  saveBody,
} from "./argo";

const CALLER = `# The caller.
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: caller}
spec:
  entrypoint: main
`;
const CALLEE = `# The callee.
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: greeting}
spec:
  templates:
    - name: hello
      script:
        source: |
          echo "---"
          echo done
`;

function converted(kind: string, extra: Partial<Converted> = {}): Converted {
  return { kind, name: "w", document: {}, schedules: [], notes: [], errors: [], ...extra };
}

describe("telling an Argo file from a Flowdeck one", () => {
  it("finds Argo's apiVersion in any document of the file, YAML or JSON", () => {
    expect(isArgoText(CALLER)).toBe(true);
    expect(isArgoText(`apiVersion: v1\nkind: ConfigMap\n---\n${CALLEE}`)).toBe(true);
    expect(isArgoText(JSON.stringify({ apiVersion: "argoproj.io/v1alpha1", kind: "Workflow" }))).toBe(true);
  });

  it("is not fooled by Argo text inside a Flowdeck task", () => {
    const flowdeck = `apiVersion: flowdeck.io/v1
kind: Workflow
metadata: {name: deploy}
spec:
  tasks:
    - name: apply
      command:
        - sh
        - -c
        - |
          kubectl apply -f - <<EOF
          apiVersion: argoproj.io/v1alpha1
          kind: Workflow
          EOF
`;
    expect(isArgoText(flowdeck)).toBe(false);
    expect(isArgoText("")).toBe(false);
  });

  it("judges a file that does not parse by its top-level lines", () => {
    expect(isArgoText("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: [unclosed\n")).toBe(true);
    expect(isArgoText("apiVersion: flowdeck.io/v1\nspec: [unclosed\n")).toBe(false);
  });
});

describe("a file of several documents", () => {
  it("gives each document its own text, comments included, as the server keeps it", () => {
    expect(documentTexts(`${CALLER}---\n${CALLEE}`, 2)).toEqual([CALLER, CALLEE]);
    expect(documentTexts(`---\n${CALLER}\n...\n`, 1)).toEqual([`${CALLER}\n...\n`]);
  });

  it("keeps the whole text for each when the split does not match the documents", () => {
    const text = `${CALLER}---\n${CALLEE}`;
    expect(documentTexts(text, 3)).toEqual([text, text, text]);
  });

  it("asks the user to choose for several documents or a schedule", () => {
    expect(needsChoice([converted("Workflow")])).toBe(false);
    expect(needsChoice([converted("Workflow"), converted("WorkflowTemplate")])).toBe(true);
    expect(needsChoice([converted("CronWorkflow")])).toBe(true);
  });
});

describe("reports and schedules", () => {
  it("reports the notes a workflow runs without, each once, and its validation errors", () => {
    const notes = [
      { path: "spec.podGC", message: "pods are deleted by Flowdeck", essential: false },
      { path: "spec.templates[1].suspend", message: "cannot run", essential: true },
      // A template two tasks call is noted twice: shown once.
      { path: "spec.podGC", message: "pods are deleted by Flowdeck", essential: false },
    ];
    const errors = [{ path: "spec.tasks[0].image", message: "is required" }];
    expect(reportOf("a.yaml", converted("Workflow", { notes, errors }))).toEqual({
      file: "a.yaml",
      kind: "Workflow",
      name: "w",
      notes: [notes[0]],
      errors,
      refused: false,
    });
    expect(refusedReport("b.yaml", errors).refused).toBe(true);
  });

  it("says a schedule in words", () => {
    const schedule = { name: "n", kind: "cron", expression: "*/5 * * * *", timezone: "Europe/Berlin", overlap: "forbid", catch_up: "none", enabled: true };
    expect(describeSchedule(schedule)).toBe("*/5 * * * * in Europe/Berlin, never two at once");
    expect(describeSchedule({ ...schedule, timezone: "", overlap: "allow", enabled: false })).toBe("*/5 * * * *, runs may overlap, paused");
  });
});

describe("saving and exporting", () => {
  it("wraps the document with its original only when there is one", () => {
    const doc = { kind: "Workflow" };
    expect(saveBody(doc, null)).toBe(doc);
    expect(saveBody(doc, { format: "argo", text: "x" })).toEqual({ document: doc, source: { format: "argo", text: "x" } });
  });

  it("asks for the version shown, as a workflow or a template", () => {
    expect(exportUrl(7, 3, "Workflow")).toBe("/api/workflows/7/versions/3/export/?format=argo");
    expect(exportUrl(7, 3, "WorkflowTemplate")).toBe("/api/workflows/7/versions/3/export/?format=argo&kind=WorkflowTemplate");
    expect(exportFilename("etl", 3, "WorkflowTemplate")).toBe("etl-v3.argo-template.yaml");
  });
});
