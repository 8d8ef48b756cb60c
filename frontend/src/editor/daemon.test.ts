import { describe, expect, it } from "vitest";

import {
  envFromText,
  envText,
  mountsFromText,
  mountsText,
  portsFromText,
  portsText,
  probeFrom,
  probeOf,
  resourceOf,
  withResource,
} from "./daemon";

describe("ports", () => {
  it("reads named and bare ports and writes them back", () => {
    const ports = portsFromText("pg:5432, 8080");
    expect(ports).toEqual([{ name: "pg", port: 5432 }, { port: 8080 }]);
    expect(portsText(ports)).toBe("pg:5432, 8080");
  });
  it("leaves what is not a number for the server to name", () => {
    expect(portsFromText("web:http")).toEqual([{ name: "web", port: "http" }]);
    expect(portsFromText("  ")).toBeUndefined();
  });
});

describe("readiness probe", () => {
  const ports = [{ name: "pg", port: 5432 }];
  it("defaults to a TCP connection to the first port", () => {
    expect(probeOf(undefined)).toEqual({ kind: "tcp", value: "" });
    expect(probeFrom("tcp", "", ports, undefined)).toBeUndefined();
  });
  it("builds each kind and keeps the timings", () => {
    expect(probeFrom("http", "/health", ports, { periodSeconds: 2, tcpSocket: { port: 1 } })).toEqual({
      httpGet: { path: "/health", port: "pg" },
      periodSeconds: 2,
    });
    const exec = probeFrom("exec", "pg_isready -U postgres", ports, undefined);
    expect(exec).toEqual({ exec: { command: ["sh", "-c", "pg_isready -U postgres"] } });
    expect(probeOf(exec)).toEqual({ kind: "exec", value: "pg_isready -U postgres" });
    expect(probeFrom("tcp", "5432", ports, undefined)).toEqual({ tcpSocket: { port: 5432 } });
    expect(probeOf({ httpGet: { path: "/ready", port: 80 } })).toEqual({ kind: "http", value: "/ready" });
  });
});

describe("extra containers' env, mounts and resources", () => {
  it("reads KEY=value lines and keeps a secret reference", () => {
    const old = [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }, { name: "A", value: "1", secret: true }];
    const env = envFromText("A=2\nTOKEN=x\nEMPTY", old);
    expect(env).toEqual([
      { name: "A", value: "2", secret: true },
      old[0],
      { name: "EMPTY", value: "" },
    ]);
    expect(envText(env)).toBe("A=2\nTOKEN=<from a secret or config map>\nEMPTY=");
    expect(envFromText("", old)).toBeUndefined();
  });
  it("reads volume:/path lines with :ro", () => {
    const mounts = mountsFromText("site:/site:ro\nwork:/work");
    expect(mounts).toEqual([
      { name: "site", mountPath: "/site", readOnly: true },
      { name: "work", mountPath: "/work" },
    ]);
    expect(mountsText(mounts)).toBe("site:/site:ro\nwork:/work");
  });
  it("sets and clears one quantity", () => {
    const set = withResource(undefined, "requests", "cpu", "250m");
    expect(set).toEqual({ requests: { cpu: "250m" } });
    const more = withResource(set, "limits", "memory", "1Gi");
    expect(resourceOf(more, "limits", "memory")).toBe("1Gi");
    expect(withResource(withResource(more, "limits", "memory", ""), "requests", "cpu", "")).toBeUndefined();
  });
});
