// What a task runs: "What it runs" (a shell script, a Python script, or a
// command and its arguments one per line), the script or command, and the
// arguments. The editor's task form and the run page's Debug dialog both use
// it, so a command is entered the same way in both.
import type { Completion } from "./dataflow";
import { type PlacedError, errorsUnder, lineErrors } from "./errors";
import { Field } from "./fields";
import { ReferenceField } from "./ReferenceField";
import { type CommandMode, commandMode, linesToList } from "./templates";

const REFERENCE_HINT = "Type {{ to insert a parameter or an output of a task this one runs after.";

export interface CommandFieldsProps {
  command: unknown;
  args: unknown;
  /** Errors placed inside the task (fields "command[2]", "args[0]"...). */
  errors?: PlacedError[];
  /** Warnings about what runs, shown under "What it runs" (this server's backend cannot run the task). */
  warnings?: PlacedError[];
  completions: Completion[];
  onCommand: (command: string[]) => void;
  onArgs: (args: string[]) => void;
  /** Hints about references make no sense where none can be inserted. */
  referenceHints?: boolean;
}

export function CommandFields(props: CommandFieldsProps) {
  const { errors, warnings = [], completions, onCommand, onArgs, referenceHints = true } = props;
  const mode: CommandMode = commandMode(props.command);
  const command = Array.isArray(props.command) ? props.command.map(String) : [];
  const args = Array.isArray(props.args) ? props.args.map(String) : [];
  const hint = referenceHints ? REFERENCE_HINT : undefined;
  return (
    <>
      <Field label="What it runs" errors={warnings}>
        {(fieldProps) => (
          <select
            {...fieldProps}
            name="command-mode"
            value={mode}
            onChange={(event) => {
              const next = event.target.value as CommandMode;
              const body = mode === "raw" ? command.join(" ") : (command[2] ?? "");
              if (next === "shell") onCommand(["sh", "-c", body]);
              else if (next === "python") onCommand(["python", "-c", body]);
              else onCommand(command);
            }}
          >
            <option value="shell">Shell script (sh -c)</option>
            <option value="python">Python script (python -c)</option>
            <option value="raw">Command and arguments</option>
          </select>
        )}
      </Field>
      {mode === "raw" ? (
        <Field label="Command" errors={lineErrors(errors, "command")} hint="One argument per line; empty uses the image's entrypoint.">
          {(fieldProps) => (
            <ReferenceField
              {...fieldProps}
              multiline
              name="command"
              rows={3}
              value={command.join("\n")}
              completions={completions}
              onChange={(value) => onCommand(linesToList(value))}
            />
          )}
        </Field>
      ) : (
        <Field label={mode === "shell" ? "Script" : "Python code"} errors={errorsUnder(errors, "command")} hint={hint}>
          {(fieldProps) => (
            <ReferenceField
              {...fieldProps}
              multiline
              name="script"
              rows={5}
              value={command[2] ?? ""}
              completions={completions}
              onChange={(value) => onCommand([command[0], "-c", value])}
            />
          )}
        </Field>
      )}
      <Field label="Arguments" errors={lineErrors(errors, "args")} hint={hint ? `One per line. ${hint}` : "One per line."}>
        {(fieldProps) => (
          <ReferenceField
            {...fieldProps}
            multiline
            name="args"
            rows={2}
            value={args.join("\n")}
            completions={completions}
            onChange={(value) => onArgs(linesToList(value))}
          />
        )}
      </Field>
    </>
  );
}
