// The YAML/JSON view beside the canvas. Typing here updates the canvas once
// the text parses; a syntax error is shown with its line and leaves the
// canvas as it was.
import { useEffect, useRef, useState } from "react";

import { type Doc } from "./model";
import { type ParseResult, type TextFormat, describeParseError, parseText, toText } from "./yamlText";

export interface TextPaneProps {
  doc: Doc;
  format: TextFormat;
  onFormat: (format: TextFormat) => void;
  onChange: (doc: Doc) => void;
  /** A viewer's editor: the text can be read and copied, not changed. */
  readOnly?: boolean;
}

const PARSE_DELAY_MS = 350;
const RENDER_DELAY_MS = 120;

export function TextPane({ doc, format, onFormat, onChange, readOnly = false }: TextPaneProps) {
  // Filled by the effect below, after the canvas's first paint.
  const [text, setText] = useState("");
  const [error, setError] = useState<Extract<ParseResult, { ok: false }> | null>(null);
  const fromText = useRef<Doc | null>(null);
  const first = useRef(true);
  const shownFormat = useRef(format);
  const area = useRef<HTMLTextAreaElement>(null);
  const timer = useRef<number | undefined>(undefined);

  // The document changed elsewhere (canvas, form, undo): show it. Deferred a
  // little so a burst of edits on a big workflow serialises once.
  useEffect(() => {
    if (doc === fromText.current && format === shownFormat.current && !first.current) return;
    first.current = false;
    const handle = window.setTimeout(() => {
      shownFormat.current = format;
      fromText.current = doc;
      setText(toText(doc, format));
      setError(null);
    }, RENDER_DELAY_MS);
    return () => window.clearTimeout(handle);
  }, [doc, format]);

  const edit = (value: string) => {
    setText(value);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      const result = parseText(value, format);
      if (result.ok) {
        setError(null);
        fromText.current = result.doc;
        onChange(result.doc);
      } else {
        setError(result);
      }
    }, PARSE_DELAY_MS);
  };
  useEffect(() => () => window.clearTimeout(timer.current), []);

  const goToLine = () => {
    if (!error?.line || !area.current) return;
    const lines = text.split("\n");
    const start = lines.slice(0, error.line - 1).reduce((sum, line) => sum + line.length + 1, 0);
    area.current.focus();
    area.current.setSelectionRange(start, start + (lines[error.line - 1]?.length ?? 0));
  };

  return (
    <section className="fd-text" aria-label="Spec as text">
      <div className="fd-text__bar">
        <div role="radiogroup" aria-label="Text format" className="fd-toggle">
          {(["yaml", "json"] as const).map((option) => (
            <button
              key={option}
              type="button"
              role="radio"
              aria-checked={format === option}
              className={format === option ? "fd-on" : ""}
              onClick={() => onFormat(option)}
            >
              {option.toUpperCase()}
            </button>
          ))}
        </div>
        <span className="fd-hint">{readOnly ? "Read-only: select and copy." : "Edits here update the canvas."}</span>
      </div>
      {error ? (
        <div className="fd-text__error" role="alert" data-testid="text-error">
          {describeParseError(error)}{" "}
          {error.line ? (
            <button type="button" className="fd-link" onClick={goToLine}>
              Go to line {error.line}
            </button>
          ) : null}
        </div>
      ) : null}
      <textarea
        ref={area}
        aria-label={`Spec ${format.toUpperCase()}`}
        name="spec-text"
        spellCheck={false}
        value={text}
        aria-invalid={error !== null}
        readOnly={readOnly}
        onChange={(event) => edit(event.target.value)}
      />
    </section>
  );
}
