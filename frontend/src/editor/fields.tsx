// Form controls of the side panel. Each shows the server's errors for its
// field path under it (aria-describedby), so a screen reader hears them too.
import { type ReactNode, useEffect, useId, useState } from "react";

import { type PlacedError } from "./errors";
import { type Split, joinDuration, joinQuantity, splitDuration, splitQuantity, DURATION_UNITS } from "./units";

export function FieldErrors({ id, errors }: { id: string; errors: PlacedError[] }) {
  if (errors.length === 0) return null;
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

interface FieldProps {
  label: string;
  errors?: PlacedError[];
  hint?: ReactNode;
  children: (props: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => ReactNode;
}

export function Field({ label, errors = [], hint, children }: FieldProps) {
  const id = useId();
  const errorId = `${id}-errors`;
  return (
    <div className={errors.length ? "fd-field fd-field--invalid" : "fd-field"}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": errors.length > 0, "aria-describedby": errors.length ? errorId : undefined })}
      {hint ? <small className="fd-hint">{hint}</small> : null}
      <FieldErrors id={errorId} errors={errors} />
    </div>
  );
}

/** A text input that edits `value` on every keystroke. */
export function TextInput({
  value,
  onChange,
  ...rest
}: { value: string; onChange: (value: string) => void } & Omit<
  React.InputHTMLAttributes<HTMLInputElement>,
  "value" | "onChange"
>) {
  return <input type="text" value={value} onChange={(event) => onChange(event.target.value)} {...rest} />;
}

/** A text input that commits on blur or Enter (names: renaming on every
 * keystroke would rename through every prefix). */
export function CommitInput({
  value,
  onCommit,
  ...rest
}: { value: string; onCommit: (value: string) => boolean | void } & Omit<
  React.InputHTMLAttributes<HTMLInputElement>,
  "value" | "onChange"
>) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const commit = () => {
    if (draft !== value && onCommit(draft) === false) setDraft(value);
  };
  return (
    <input
      type="text"
      value={draft}
      onChange={(event) => setDraft(event.target.value)}
      onBlur={commit}
      onKeyDown={(event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          commit();
        } else if (event.key === "Escape") setDraft(value);
      }}
      {...rest}
    />
  );
}

function AmountUnit({
  split,
  units,
  onChange,
  id,
  ariaLabel,
  inputProps,
  placeholder,
}: {
  split: Split;
  units: { value: string; label: string }[];
  onChange: (amount: string, unit: string) => void;
  id?: string;
  ariaLabel: string;
  inputProps: Record<string, unknown>;
  placeholder?: string;
}) {
  return (
    <span className="fd-amount-unit">
      <input
        id={id}
        type="text"
        inputMode={split.raw ? "text" : "decimal"}
        value={split.amount}
        placeholder={placeholder}
        onChange={(event) => onChange(event.target.value, split.unit)}
        {...inputProps}
      />
      {split.raw ? (
        <span className="fd-hint">as written</span>
      ) : (
        <select
          aria-label={`${ariaLabel} unit`}
          value={split.unit}
          onChange={(event) => onChange(split.amount, event.target.value)}
        >
          {units.map((unit) => (
            <option key={unit.value} value={unit.value}>
              {unit.label}
            </option>
          ))}
        </select>
      )}
    </span>
  );
}

export function DurationInput({
  value,
  onChange,
  id,
  label,
  placeholder,
  inputProps = {},
}: {
  value: unknown;
  onChange: (value: string | undefined) => void;
  id?: string;
  label: string;
  placeholder?: string;
  inputProps?: Record<string, unknown>;
}) {
  // Keep the unit the user picked while the amount is empty.
  const parsed = splitDuration(value);
  const [unit, setUnit] = useState(parsed.unit || "s");
  const split = parsed.amount === "" ? { ...parsed, unit } : parsed;
  return (
    <AmountUnit
      id={id}
      split={split}
      units={DURATION_UNITS}
      ariaLabel={label}
      placeholder={placeholder}
      inputProps={inputProps}
      onChange={(amount, nextUnit) => {
        setUnit(nextUnit);
        onChange(joinDuration(amount, nextUnit));
      }}
    />
  );
}

export function QuantityInput({
  value,
  onChange,
  units,
  label,
  invalid = false,
  inputProps = {},
}: {
  value: unknown;
  onChange: (value: string | undefined) => void;
  units: { value: string; label: string }[];
  label: string;
  invalid?: boolean;
  inputProps?: Record<string, unknown>;
}) {
  const parsed = splitQuantity(value, units);
  const [unit, setUnit] = useState(parsed.unit);
  const split = parsed.amount === "" ? { ...parsed, unit } : parsed;
  return (
    <AmountUnit
      split={split}
      units={units}
      ariaLabel={label}
      inputProps={{ "aria-label": label, "aria-invalid": invalid, ...inputProps }}
      onChange={(amount, nextUnit) => {
        setUnit(nextUnit);
        onChange(split.raw ? amount.trim() || undefined : joinQuantity(amount, nextUnit));
      }}
    />
  );
}

/** Rows of key = value (labels, node selector). */
export function KeyValueList({
  value,
  onChange,
  label,
  keyPlaceholder = "key",
  valuePlaceholder = "value",
  errors = [],
  itemName = "entry",
}: {
  value: unknown;
  onChange: (value: Record<string, string>) => void;
  label: string;
  itemName?: string;
  keyPlaceholder?: string;
  valuePlaceholder?: string;
  errors?: PlacedError[];
}) {
  const entries = Object.entries(value && typeof value === "object" ? (value as Record<string, unknown>) : {}).map(
    ([key, item]) => [key, String(item ?? "")] as [string, string],
  );
  // Rows are edited as a list so an empty new key can exist while typing.
  const [rows, setRows] = useState<[string, string][]>(entries);
  const signature = JSON.stringify(entries);
  useEffect(() => {
    const current = JSON.stringify(rows.filter(([key]) => key !== ""));
    if (current !== signature) setRows(entries);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [signature]);
  const update = (next: [string, string][]) => {
    setRows(next);
    onChange(Object.fromEntries(next.filter(([key]) => key !== "")));
  };
  const id = useId();
  return (
    <fieldset className="fd-list">
      <legend>{label}</legend>
      {rows.map(([key, item], index) => (
        <div className="fd-row" key={index}>
          <input
            aria-label={`${label} ${index + 1} key`}
            placeholder={keyPlaceholder}
            value={key}
            onChange={(event) => update(rows.map((row, i) => (i === index ? [event.target.value, row[1]] : row)))}
          />
          <input
            aria-label={`${label} ${index + 1} value`}
            placeholder={valuePlaceholder}
            value={item}
            onChange={(event) => update(rows.map((row, i) => (i === index ? [row[0], event.target.value] : row)))}
          />
          <button type="button" className="fd-icon" aria-label={`Remove ${label} ${index + 1}`} onClick={() => update(rows.filter((_, i) => i !== index))}>
            ×
          </button>
        </div>
      ))}
      <button type="button" className="fd-add" onClick={() => setRows([...rows, ["", ""]])}>
        + Add {itemName}
      </button>
      <FieldErrors id={`${id}-errors`} errors={errors} />
    </fieldset>
  );
}
