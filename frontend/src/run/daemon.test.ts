import { describe, expect, it } from "vitest";

import { daemonAddress, isDaemon } from "./daemon";

describe("a daemon's address", () => {
  const request = { daemon: { ports: [{ name: "pg", port: 5432 }, { port: 9187 }] } };
  it("is its ip, service and ports once ready", () => {
    expect(
      daemonAddress(request, [
        { name: "ip", value: "10.0.0.7" },
        { name: "service", value: "wf-3-db.team-a.svc" },
      ]),
    ).toEqual({ ip: "10.0.0.7", service: "wf-3-db.team-a.svc", ports: ["5432 (pg)", "9187"] });
  });
  it("is nothing before it is ready, or for a task that is not a daemon", () => {
    expect(daemonAddress(request, [])).toBeNull();
    expect(daemonAddress({ job: {} }, [{ name: "ip", value: "1.2.3.4" }])).toBeNull();
    expect(isDaemon(request) && !isDaemon({})).toBe(true);
  });
});
