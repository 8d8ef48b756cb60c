// Quantities and durations split into a number and a unit for the pickers,
// and joined back. A value the pickers cannot show (1h30m, 1e3) is kept as
// text so nothing the user wrote is lost.

export const CPU_UNITS = [
  { value: "", label: "cores" },
  { value: "m", label: "m (milli)" },
];
export const MEMORY_UNITS = ["Mi", "Gi", "Ki", "Ti", "M", "G", "k", ""].map((value) => ({
  value,
  label: value || "bytes",
}));
export const DURATION_UNITS = [
  { value: "s", label: "sec" },
  { value: "m", label: "min" },
  { value: "h", label: "hours" },
  { value: "d", label: "days" },
  { value: "ms", label: "ms" },
];

export interface Split {
  amount: string;
  unit: string;
  /** The value did not fit the pickers: edit it as text. */
  raw: boolean;
}

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|u|n)?$/;

export function splitQuantity(value: unknown, units: { value: string }[]): Split {
  if (value === undefined || value === null || value === "") return { amount: "", unit: units[0].value, raw: false };
  const text = String(value);
  const match = text.match(QUANTITY);
  if (match && units.some((unit) => unit.value === (match[2] ?? ""))) {
    return { amount: match[1], unit: match[2] ?? "", raw: false };
  }
  return { amount: text, unit: "", raw: true };
}

export function joinQuantity(amount: string, unit: string): string | undefined {
  const trimmed = amount.trim();
  return trimmed === "" ? undefined : `${trimmed}${unit}`;
}

const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/;

export function splitDuration(value: unknown): Split {
  if (value === undefined || value === null || value === "") return { amount: "", unit: "s", raw: false };
  if (typeof value === "number") return { amount: String(value), unit: "s", raw: false };
  const text = String(value);
  if (/^[0-9]+$/.test(text)) return { amount: text, unit: "s", raw: false };
  const match = text.match(DURATION);
  if (match) return { amount: match[1], unit: match[2], raw: false };
  return { amount: text, unit: "", raw: true };
}

export function joinDuration(amount: string, unit: string): string | undefined {
  const trimmed = amount.trim();
  if (trimmed === "") return undefined;
  return /^[0-9.]+$/.test(trimmed) ? `${trimmed}${unit}` : trimmed;
}
