// A text field (input or textarea) that offers references where `{{` is
// typed: the workflow's parameters and the outputs of upstream tasks. An ARIA
// combobox: the list is announced, arrow keys move in it, Enter or Tab
// inserts the whole reference, Escape closes it; a click inserts too.
import { useId, useLayoutEffect, useRef, useState } from "react";

import { insertCompletion, matchCompletions, type OpenReference, openReference } from "./completion";
import type { Completion } from "./dataflow";

type Native = Omit<
  React.InputHTMLAttributes<HTMLInputElement> & React.TextareaHTMLAttributes<HTMLTextAreaElement>,
  "value" | "onChange" | "role"
>;

export interface ReferenceFieldProps extends Native {
  value: string;
  onChange: (value: string) => void;
  completions: Completion[];
  multiline?: boolean;
}

export function ReferenceField({ value, onChange, completions, multiline = false, ...rest }: ReferenceFieldProps) {
  const field = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const [open, setOpen] = useState<OpenReference | null>(null);
  const [active, setActive] = useState(0);
  // Escape closes the list for the reference being typed, until another starts.
  const [dismissed, setDismissed] = useState<number | null>(null);
  const caretAfter = useRef<number | null>(null);
  const listId = useId();
  const matches = open ? matchCompletions(completions, open.query) : [];
  const showing = open !== null && matches.length > 0;
  const current = Math.min(active, Math.max(0, matches.length - 1));

  useLayoutEffect(() => {
    if (caretAfter.current !== null && field.current) {
      field.current.setSelectionRange(caretAfter.current, caretAfter.current);
      caretAfter.current = null;
    }
  });

  const look = (element: HTMLInputElement | HTMLTextAreaElement) => {
    const caret = element.selectionStart ?? element.value.length;
    const found = element.selectionStart === element.selectionEnd ? openReference(element.value, caret) : null;
    if (!found || found.start === dismissed) {
      setOpen(null);
      if (!found) setDismissed(null);
      return;
    }
    if (found.start !== open?.start || found.query !== open?.query) setActive(0);
    setOpen(found);
  };

  const pick = (completion: Completion) => {
    if (!open || !field.current) return;
    const caret = field.current.selectionStart ?? value.length;
    const next = insertCompletion(field.current.value, caret, open, completion);
    caretAfter.current = next.caret;
    setOpen(null);
    onChange(next.text);
  };

  const props = {
    ...rest,
    ref: field,
    value,
    role: "combobox",
    "aria-autocomplete": "list" as const,
    "aria-expanded": showing,
    "aria-controls": showing ? listId : undefined,
    "aria-activedescendant": showing ? `${listId}-${current}` : undefined,
    autoComplete: "off",
    spellCheck: false,
    onChange: (event: React.ChangeEvent<HTMLInputElement & HTMLTextAreaElement>) => {
      onChange(event.target.value);
      look(event.target);
    },
    onSelect: (event: React.SyntheticEvent<HTMLInputElement & HTMLTextAreaElement>) => look(event.currentTarget),
    onBlur: (event: React.FocusEvent<HTMLInputElement & HTMLTextAreaElement>) => {
      setOpen(null);
      rest.onBlur?.(event);
    },
    onKeyDown: (event: React.KeyboardEvent<HTMLInputElement & HTMLTextAreaElement>) => {
      if (showing) {
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          const step = event.key === "ArrowDown" ? 1 : -1;
          setActive((current + step + matches.length) % matches.length);
          return;
        }
        if (event.key === "Enter" || event.key === "Tab") {
          event.preventDefault();
          pick(matches[current]);
          return;
        }
        if (event.key === "Escape") {
          // Close the list, not whatever holds the field (a dialog, the editor).
          event.preventDefault();
          event.stopPropagation();
          setDismissed(open.start);
          setOpen(null);
          return;
        }
      }
      rest.onKeyDown?.(event);
    },
  };

  return (
    <div className="fd-complete">
      {multiline ? <textarea {...props} /> : <input type="text" {...props} />}
      {showing ? (
        <ul className="fd-complete__list" id={listId} role="listbox" aria-label="References">
          {matches.map((completion, index) => (
            <li
              key={completion.text}
              id={`${listId}-${index}`}
              role="option"
              aria-selected={index === current}
              className={index === current ? "fd-complete__item fd-complete__item--on" : "fd-complete__item"}
              // Keep the focus (and the caret) in the field.
              onMouseDown={(event) => event.preventDefault()}
              onClick={() => pick(completion)}
            >
              <code>{completion.label}</code>
              <span className="fd-complete__detail">{completion.detail}</span>
            </li>
          ))}
        </ul>
      ) : null}
      <span className="visually-hidden" role="status" aria-live="polite">
        {showing ? `${matches.length} reference${matches.length === 1 ? "" : "s"}: arrow keys to choose, Enter to insert` : ""}
      </span>
    </div>
  );
}
