// The editor's smaller parts: the palette, the problems list, the shortcuts.
import { Modal } from "./Dialogs";
import { type PlacedErrors, countPlaced } from "./errors";
import { TASK_TEMPLATES, TEMPLATE_MIME } from "./templates";

export function Palette({
  selected,
  anyEdge,
  onAdd,
  onDuplicate,
  onCopy,
  onPaste,
  onDelete,
}: {
  selected: number;
  anyEdge: boolean;
  onAdd: (templateId: string) => void;
  onDuplicate: () => void;
  onCopy: () => void;
  onPaste: () => void;
  onDelete: () => void;
}) {
  return (
    <nav className="fd-palette" aria-label="Task templates">
      <h2>Add a task</h2>
      <p className="fd-hint">Drag onto the canvas, or press Enter.</p>
      {TASK_TEMPLATES.map((template) => (
        <button
          type="button"
          key={template.id}
          className="fd-template"
          draggable
          data-template={template.id}
          title={template.hint}
          onDragStart={(event) => {
            event.dataTransfer.setData(TEMPLATE_MIME, template.id);
            event.dataTransfer.effectAllowed = "copy";
          }}
          onClick={() => onAdd(template.id)}
        >
          <span className="fd-template__label">{template.label}</span>
          <span className="fd-template__hint">{template.hint}</span>
        </button>
      ))}
      <h2>Selection</h2>
      <p className="fd-hint">{selected === 0 ? "Click a task, or Shift+drag to select several." : `${selected} selected`}</p>
      <button type="button" onClick={onDuplicate} disabled={selected === 0}>
        Duplicate
      </button>
      <button type="button" onClick={onCopy} disabled={selected === 0}>
        Copy
      </button>
      <button type="button" onClick={onPaste}>
        Paste
      </button>
      <button type="button" className="fd-danger" onClick={onDelete} disabled={selected === 0 && !anyEdge}>
        Delete
      </button>
    </nav>
  );
}

/** Every problem the validator reported; a task's name selects it. */
export function Problems({
  placed,
  warnings,
  onSelect,
}: {
  placed: PlacedErrors;
  warnings?: PlacedErrors;
  onSelect: (task: string | null) => void;
}) {
  const count = countPlaced(placed);
  const warned = warnings ? countPlaced(warnings) : 0;
  if (count === 0 && warned === 0) return null;
  const rows = (list: PlacedErrors, kind: "problem" | "warning") => [
    ...[...list.byTask.entries()].flatMap(([name, errors]) =>
      errors.map((error, index) => (
        <li key={`${kind}-${name}-${index}`} className={`fd-problems__${kind}`}>
          <button type="button" className="fd-link" onClick={() => onSelect(name)}>
            {name}
          </button>
          {error.field ? <code> {error.field}</code> : null}: {error.message}
        </li>
      )),
    ),
    ...list.workflow.map((error, index) => (
      <li key={`${kind}-wf-${index}`} className={`fd-problems__${kind}`}>
        <button type="button" className="fd-link" onClick={() => onSelect(null)}>
          workflow
        </button>
        {error.path ? <code> {error.path}</code> : null}: {error.message}
      </li>
    )),
  ];
  const parts = [];
  if (count) parts.push(`${count} problem${count === 1 ? "" : "s"}`);
  if (warned) parts.push(`${warned} task${warned === 1 ? "" : "s"} cannot run on this server`);
  return (
    <details className="fd-problems" open={count + warned <= 5} data-testid="problems">
      <summary>{parts.join(" · ")}</summary>
      <ul>
        {rows(placed, "problem")}
        {warnings ? rows(warnings, "warning") : null}
      </ul>
    </details>
  );
}

const SHORTCUTS: [string, string][] = [
  ["Tab / Shift+Tab", "Move between the palette, the tasks and the forms"],
  ["Enter on a template", "Add that task"],
  ["Enter or Space on a task", "Select it; arrow keys move it"],
  ["Runs after (task form)", "Connect tasks without a mouse"],
  ["Delete / Backspace", "Delete the selected tasks and connections"],
  ["Ctrl+C, Ctrl+V, Ctrl+D", "Copy, paste, duplicate"],
  ["Ctrl+A / Escape", "Select all / nothing"],
  ["Ctrl+Z, Ctrl+Shift+Z (or Ctrl+Y)", "Undo, redo"],
];

export function Shortcuts({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose}>
      <dl className="fd-shortcuts">
        {SHORTCUTS.flatMap(([keys, does]) => [<dt key={`${keys}-k`}>{keys}</dt>, <dd key={`${keys}-d`}>{does}</dd>])}
      </dl>
    </Modal>
  );
}
