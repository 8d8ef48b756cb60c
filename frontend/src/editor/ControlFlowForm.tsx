// The task form's "Control flow" section (docs/spec.md, "Control flow"): a
// condition, when the task starts (a trigger rule, or a depends expression
// instead of its dependencies), what failures to forgive, and running it once
// per item. The rules behind it are controlFlow.ts's; the server's errors land
// on each field, an expression's with a marker at the position it names.
import { useEffect, useId, useState } from "react";

import {
  DEFAULT_RULE,
  dependsFromList,
  dependsNames,
  errorPosition,
  explainRule,
  FAN_OUT_KEYS,
  type FanOutMode,
  fanOutMode,
  itemsToText,
  textToItems,
  TRIGGER_RULES,
} from "./controlFlow";
import type { TaskReferences } from "./dataflow";
import { type PlacedError, errorsUnder, lineErrors } from "./errors";
import { Field } from "./fields";
import { type Obj, type Task, isObj, listedDependencies, orderTaskKeys, setField } from "./model";
import { ReferenceField } from "./ReferenceField";

export interface ControlFlowProps {
  task: Task;
  errors: PlacedError[] | undefined;
  references: TaskReferences;
  onChange: (change: (task: Task) => Obj, key: string) => void;
}

/** The key each way of running once per item writes. */
const FAN_OUT_KEY: Record<FanOutMode, string> = { none: "", items: "withItems", param: "withParam", sequence: "withSequence" };

const FAN_OUT_MODES: { value: FanOutMode; label: string }[] = [
  { value: "none", label: "No: once" },
  { value: "items", label: "Yes: over a list of items" },
  { value: "param", label: "Yes: over a JSON list from a reference" },
  { value: "sequence", label: "Yes: over a sequence of numbers" },
];

const str = (value: unknown) => (value === undefined || value === null ? "" : String(value));

function toInteger(text: string): number | string | undefined {
  if (text.trim() === "") return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

export function ControlFlowForm({ task, errors, references, onChange }: ControlFlowProps) {
  const ids = useId();
  const under = (field: string) => errorsUnder(errors, field);
  const change = (key: string, edit: (current: Task) => Obj) => onChange((current) => orderTaskKeys(edit(current)), key);
  const setKey = (key: string, value: unknown) => change(key, (current) => setField(current, key, value));

  // What the document says wins; the choice made here holds while the field it
  // opens is still empty (an empty depends or item list is not written).
  const [startChoice, setStartChoice] = useState<"rule" | "depends">(typeof task.depends === "string" ? "depends" : "rule");
  const start =
    typeof task.depends === "string" ? "depends" : listedDependencies(task).length || task.triggerRule ? "rule" : startChoice;
  const [fanChoice, setFanChoice] = useState<FanOutMode>(fanOutMode(task));
  const fan = fanOutMode(task) !== "none" ? fanOutMode(task) : fanChoice;
  const rule = typeof task.triggerRule === "string" ? task.triggerRule : DEFAULT_RULE;
  const continueOn = isObj(task.continueOn) ? task.continueOn : {};
  const sequence = isObj(task.withSequence) ? task.withSequence : {};

  const chooseStart = (next: "rule" | "depends") => {
    setStartChoice(next);
    if (next === start) return;
    change("depends", (current) => {
      if (next === "depends") {
        // The dependencies become the expression: each must have succeeded (or been skipped).
        const expression = dependsFromList(listedDependencies(current));
        return setField(setField(setField(current, "dependencies", undefined), "triggerRule", undefined), "depends", expression);
      }
      const names = dependsNames(current.depends);
      return setField(setField(current, "depends", undefined), "dependencies", names);
    });
  };

  const chooseFan = (next: FanOutMode) => {
    setFanChoice(next);
    change("fan-out", (current) => {
      let edited: Obj = current;
      // One of the three at most: the others go.
      for (const key of FAN_OUT_KEYS) if (key !== FAN_OUT_KEY[next]) edited = setField(edited, key, undefined);
      if (next === "none") edited = setField(edited, "parallelism", undefined);
      return edited;
    });
  };

  return (
    <fieldset className="fd-list fd-control-flow" data-section="control-flow">
      <legend>Control flow</legend>
      <Field
        label="Run only when"
        errors={under("when")}
        hint={
          <>
            A condition over parameters and upstream outputs, such as <code>{"{{tasks.flip.outputs.result}} == heads"}</code>; false
            skips the task (no failure). Type <code>{"{{"}</code> for a reference.
          </>
        }
      >
        {(props) => (
          <ReferenceField
            {...props}
            name="when"
            placeholder="always"
            value={str(task.when)}
            completions={references.condition}
            onChange={(value) => setKey("when", value)}
          />
        )}
      </Field>
      <ExpressionPointer text={str(task.when)} errors={under("when")} />

      <div className="fd-field" role="radiogroup" aria-labelledby={`${ids}-starts`}>
        <span className="fd-field__label" id={`${ids}-starts`}>
          Starts
        </span>
        <label className="fd-check">
          <input type="radio" name={`${ids}-start`} value="rule" checked={start === "rule"} onChange={() => chooseStart("rule")} />
          when the tasks it runs after allow it (a trigger rule)
        </label>
        <label className="fd-check">
          <input type="radio" name={`${ids}-start`} value="depends" checked={start === "depends"} onChange={() => chooseStart("depends")} />
          when an expression over their results holds (depends)
        </label>
        <small className="fd-hint">
          A task sets one or the other: a depends expression names the tasks it runs after itself, so <em>Runs after</em> and the
          trigger rule do not apply to it. Switching carries the tasks over.
        </small>
      </div>
      {start === "rule" ? (
        <Field label="Trigger rule" errors={under("triggerRule")} hint={explainRule(rule) ? `Starts ${explainRule(rule)}.` : undefined}>
          {(props) => (
            <select {...props} name="triggerRule" value={rule} onChange={(event) => setKey("triggerRule", event.target.value === DEFAULT_RULE ? undefined : event.target.value)}>
              {TRIGGER_RULES.map((item) => (
                <option key={item.value} value={item.value}>
                  {item.value} — {item.explain}
                </option>
              ))}
              {TRIGGER_RULES.some((item) => item.value === rule) ? null : <option value={rule}>{rule}</option>}
            </select>
          )}
        </Field>
      ) : (
        <>
          <Field
            label="Depends"
            errors={under("depends")}
            hint={
              <>
                Such as <code>extract.Succeeded || backup.Failed</code>: results are Succeeded, Failed, Errored, Skipped, Omitted
                and Cancelled; a bare name means it succeeded or was skipped. Connecting a task on the canvas adds{" "}
                <code>&amp;&amp; name</code>.
              </>
            }
          >
            {(props) => (
              <input
                {...props}
                type="text"
                name="depends"
                autoComplete="off"
                spellCheck={false}
                value={str(task.depends)}
                onChange={(event) => setKey("depends", event.target.value)}
              />
            )}
          </Field>
          <ExpressionPointer text={str(task.depends)} errors={under("depends")} />
        </>
      )}

      <div className="fd-field" role="group" aria-labelledby={`${ids}-continue`}>
        <span className="fd-field__label" id={`${ids}-continue`}>
          Continue when it
        </span>
        <div className="fd-row">
          {(["failed", "error"] as const).map((key) => (
            <label key={key} className="fd-check">
              <input
                type="checkbox"
                name={`continueOn-${key}`}
                checked={continueOn[key] === true}
                onChange={(event) =>
                  change("continueOn", (current) => {
                    const was = isObj(current.continueOn) ? current.continueOn : {};
                    return setField(current, "continueOn", setField(was, key, event.target.checked ? true : undefined));
                  })
                }
              />
              {key === "failed" ? "failed (its program)" : "hit an infrastructure error"}
            </label>
          ))}
        </div>
        <small className="fd-hint">A forgiven failure still shows, but fails neither the run nor the tasks after it.</small>
        <FieldErrorsFor errors={under("continueOn")} id={`${ids}-continue-errors`} />
      </div>

      <Field label="Run once per item" errors={[]}>
        {(props) => (
          <select {...props} name="fan-out" value={fan} onChange={(event) => chooseFan(event.target.value as FanOutMode)}>
            {FAN_OUT_MODES.map((mode) => (
              <option key={mode.value} value={mode.value}>
                {mode.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      {fan === "items" ? (
        <Field
          label="Items"
          errors={lineErrors(errors, "withItems")}
          hint={
            <>
              One per line: text as it is, or JSON (<code>42</code>, <code>{'{"file": "a.csv"}'}</code>, <code>"quoted text"</code>).
              Each instance reads its own as <code>{"{{item}}"}</code>.
            </>
          }
        >
          {(props) => <ItemsText {...props} value={task.withItems} onChange={(items) => setKey("withItems", items)} />}
        </Field>
      ) : null}
      {fan === "param" ? (
        <Field
          label="Items from"
          errors={under("withParam")}
          hint={
            <>
              One reference whose value is a JSON list, such as <code>{"{{tasks.discover.outputs.result}}"}</code>.
            </>
          }
        >
          {(props) => (
            <ReferenceField
              {...props}
              name="withParam"
              value={str(task.withParam)}
              completions={references.condition}
              onChange={(value) => setKey("withParam", value)}
            />
          )}
        </Field>
      ) : null}
      {fan === "sequence" ? (
        <SequenceFields
          value={sequence}
          errors={under("withSequence")}
          onChange={(next) => change("withSequence", (current) => setField(current, "withSequence", next))}
        />
      ) : null}
      {fan !== "none" ? (
        <Field label="At most at once" errors={under("parallelism")} hint="Instances running at the same time; empty: as many as the run allows.">
          {(props) => (
            <input
              {...props}
              type="number"
              name="parallelism"
              min={1}
              value={str(task.parallelism)}
              onChange={(event) => setKey("parallelism", toInteger(event.target.value))}
            />
          )}
        </Field>
      ) : null}
      {fan === "none" && under("parallelism").length ? <FieldErrorsFor errors={under("parallelism")} id={`${ids}-par`} /> : null}
    </fieldset>
  );
}

function FieldErrorsFor({ errors, id }: { errors: PlacedError[]; id: string }) {
  if (!errors.length) return null;
  return (
    <ul className="fd-field-errors" id={id} role="alert">
      {errors.map((error, index) => (
        <li key={index} data-error-path={error.path}>
          {error.message}
        </li>
      ))}
    </ul>
  );
}

/** The expression with the character an error's position names marked. */
function ExpressionPointer({ text, errors }: { text: string; errors: PlacedError[] }) {
  const at = errors.map((error) => errorPosition(error.message)).find((position) => position !== null);
  if (at === undefined || at === null || at > text.length) return null;
  return (
    <pre className="fd-pointer" aria-hidden="true" data-testid="expression-pointer">
      {text.slice(0, at)}
      <mark>{text.slice(at, at + 1) || " "}</mark>
      {text.slice(at + 1)}
    </pre>
  );
}

/** The items, one per line, edited as text: what is typed stays as typed
 * (a half-written `"quoted` line), and the list is written on every key. */
function ItemsText({
  value,
  onChange,
  ...rest
}: {
  value: unknown;
  onChange: (items: unknown[] | undefined) => void;
  id: string;
  "aria-invalid": boolean;
  "aria-describedby"?: string;
}) {
  const [draft, setDraft] = useState(() => itemsToText(value));
  const signature = JSON.stringify(value ?? []);
  useEffect(() => {
    // Changed elsewhere (undo, the text view): show it.
    if (JSON.stringify(textToItems(draft)) !== signature) setDraft(itemsToText(value));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [signature]);
  return (
    <textarea
      {...rest}
      name="withItems"
      rows={4}
      spellCheck={false}
      value={draft}
      onChange={(event) => {
        setDraft(event.target.value);
        const items = textToItems(event.target.value);
        onChange(items.length ? items : undefined);
      }}
    />
  );
}

function SequenceFields({ value, errors, onChange }: { value: Obj; errors: PlacedError[]; onChange: (next: Obj) => void }) {
  const ids = useId();
  const [choice, setChoice] = useState<"count" | "range">("end" in value ? "range" : "count");
  const kind = "end" in value ? "range" : "count" in value ? "count" : choice;
  const set = (key: string, text: string) => onChange(setField(value, key, key === "format" ? text : toInteger(text)));
  const number = (key: string, label: string, hint?: string) => (
    <Field label={label} errors={errorsUnder(errors.map((error) => ({ ...error, field: error.field.replace(/^withSequence\.?/, "") })), key)} hint={hint}>
      {(props) => <input {...props} type="number" name={`withSequence-${key}`} value={str(value[key])} onChange={(event) => set(key, event.target.value)} />}
    </Field>
  );
  return (
    <div className="fd-sequence">
      <div className="fd-row" role="radiogroup" aria-label="Sequence">
        <label className="fd-check">
          <input
            type="radio"
            name={`${ids}-kind`}
            checked={kind === "count"}
            onChange={() => {
              setChoice("count");
              onChange(setField(value, "end", undefined));
            }}
          />
          a count
        </label>
        <label className="fd-check">
          <input
            type="radio"
            name={`${ids}-kind`}
            checked={kind === "range"}
            onChange={() => {
              setChoice("range");
              onChange(setField(value, "count", undefined));
            }}
          />
          from … to
        </label>
      </div>
      <div className="fd-grid">
        {kind === "count" ? number("count", "Count", "How many numbers") : number("end", "To", "Inclusive; below From counts down")}
        {number("start", kind === "count" ? "Starting at" : "From", "0 when empty")}
      </div>
      <Field
        label="Format"
        errors={errorsUnder(errors.map((error) => ({ ...error, field: error.field.replace(/^withSequence\.?/, "") })), "format")}
        hint={
          <>
            How each number is written, such as <code>part-%02d</code>; empty: the number.
          </>
        }
      >
        {(props) => <input {...props} type="text" name="withSequence-format" value={str(value.format)} onChange={(event) => set("format", event.target.value)} />}
      </Field>
      <FieldErrorsFor errors={errors.filter((error) => !/^withSequence\.(count|start|end|format)\b/.test(error.field))} id={`${ids}-seq`} />
    </div>
  );
}
