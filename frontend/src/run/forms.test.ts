import { describe, expect, it } from "vitest";

import { debugCommands, debugFields, debugOverrides, envLines, lines, parseParameter } from "./forms";

describe("action forms", () => {
  it("keeps a string parameter a string and gives others back their type", () => {
    expect(parseParameter("42", "7")).toBe("42");
    expect(parseParameter("42", 7)).toBe(42);
    expect(parseParameter("[1, 2]", [0])).toEqual([1, 2]);
    expect(parseParameter("not json", 7)).toBe("not json");
  });

  it("reads overrides one a line, and none as not overridden", () => {
    expect(lines("sleep\n 3600 \n\n")).toEqual(["sleep", "3600"]);
    expect(lines("  \n")).toBeNull();
    expect(envLines("A=1\nB=x=y\nC")).toEqual([
      { name: "A", value: "1" },
      { name: "B", value: "x=y" },
      { name: "C", value: "" },
    ]);
    expect(envLines("")).toBeNull();
  });

  it("lists the debug answer's commands worth copying", () => {
    const kubernetes = debugCommands({
      id: 9,
      commands: { exec: "kubectl exec -it -n team p -- sh", logs: "kubectl logs -f -n team p", log_path: null, log_url: "http://x/api/runs/9/tasks/a/logs/" },
    });
    expect(kubernetes.map((c) => c.label)).toEqual(["Shell into the pod", "Follow its log", "Its log over the API"]);
    expect(debugCommands({ id: 9 })).toEqual([]);
  });

  const document = {
    spec: {
      defaults: { image: "busybox:1.36" },
      tasks: [
        {
          name: "load",
          command: ["sh", "-c", "echo load"],
          env: [{ name: "MODE", value: "fast" }, { name: "TOKEN", value: "••••••", secret: true }, { name: "REF", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }],
        },
        { name: "square", image: "python:3.12", command: ["python", "-c", "print(1)"], args: ["--n", "2"] },
      ],
    },
  };

  it("starts the debug form from the task: its command, arguments, plain variables and image", () => {
    expect(debugFields(document, "load")).toEqual({ command: ["sh", "-c", "echo load"], args: [], env: "MODE=fast", image: "busybox:1.36" });
    // A fan-out's instance is its fan-out's task.
    expect(debugFields(document, "square[3]")).toMatchObject({ image: "python:3.12", args: ["--n", "2"] });
    expect(debugFields({}, "gone")).toEqual({ command: [], args: [], env: "", image: "" });
  });

  it("sends only what the person changed", () => {
    const original = debugFields(document, "load");
    expect(debugOverrides(original, original)).toEqual({});
    const edited = { ...original, command: ["sh", "-c", "echo debug one line; sleep 1"], env: "MODE=fast\nMODE2=slow" };
    expect(debugOverrides(original, edited)).toEqual({
      command: ["sh", "-c", "echo debug one line; sleep 1"],
      env: [{ name: "MODE2", value: "slow" }],
    });
  });
});
