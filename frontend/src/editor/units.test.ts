import { describe, expect, it } from "vitest";

import { CPU_UNITS, MEMORY_UNITS, joinDuration, joinQuantity, splitDuration, splitQuantity } from "./units";
import { commandMode, linesToList } from "./templates";

describe("unit pickers", () => {
  it("splits and joins quantities", () => {
    expect(splitQuantity("250m", CPU_UNITS)).toEqual({ amount: "250", unit: "m", raw: false });
    expect(splitQuantity(1, CPU_UNITS)).toEqual({ amount: "1", unit: "", raw: false });
    expect(splitQuantity("512Mi", MEMORY_UNITS)).toEqual({ amount: "512", unit: "Mi", raw: false });
    expect(splitQuantity("1e3", MEMORY_UNITS).raw).toBe(true);
    expect(joinQuantity(" 2 ", "Gi")).toBe("2Gi");
    expect(joinQuantity("", "Gi")).toBeUndefined();
  });

  it("splits and joins durations, keeping compound ones as text", () => {
    expect(splitDuration("10m")).toEqual({ amount: "10", unit: "m", raw: false });
    expect(splitDuration(90)).toEqual({ amount: "90", unit: "s", raw: false });
    expect(splitDuration("1h30m").raw).toBe(true);
    expect(joinDuration("5", "m")).toBe("5m");
    expect(joinDuration("1h30m", "s")).toBe("1h30m");
  });
});

describe("command modes", () => {
  it("recognises shell and python scripts", () => {
    expect(commandMode(["sh", "-c", "echo"])).toBe("shell");
    expect(commandMode(["python3", "-c", "print(1)"])).toBe("python");
    expect(commandMode(["run", "--x"])).toBe("raw");
    expect(commandMode(undefined)).toBe("raw");
  });

  it("reads one argument per line", () => {
    expect(linesToList("a\nb c\n")).toEqual(["a", "b c"]);
    expect(linesToList("")).toEqual([]);
  });
});
