// What the Django template hands the run page (json_script #flowdeck-run-data),
// and the URLs the page builds.
import type { Run } from "./types";

export interface RunPageConfig {
  run: Run;
  /** Actions the user's project role allows (workflows.permissions.Action values). */
  allowed: string[];
  urls: { workflow: string; version: string; project: string; runs: string };
}

export const can = (config: RunPageConfig, action: string) => config.allowed.includes(action);

const task = (name: string) => encodeURIComponent(name);

export const urls = {
  apiRun: (id: number) => `/api/runs/${id}/`,
  /** One fan-out's instances, the most a page allows (GET /api/runs/{id}/tasks/). */
  instances: (id: number, group: string) => `/api/runs/${id}/tasks/?group=${encodeURIComponent(group)}&limit=1000`,
  retry: (id: number) => `/api/runs/${id}/retry/`,
  retryPreview: (id: number, name?: string) =>
    `/api/runs/${id}/retry/preview/${name ? `?task=${encodeURIComponent(name)}` : ""}`,
  retryTask: (id: number, name: string) => `/api/runs/${id}/tasks/${task(name)}/retry/`,
  cancel: (id: number) => `/api/runs/${id}/cancel/`,
  resubmit: (id: number) => `/api/runs/${id}/resubmit/`,
  version: (workflow: number, number: number) => `/api/workflows/${workflow}/versions/${number}/`,
  debug: (id: number, name: string) => `/api/runs/${id}/tasks/${task(name)}/debug/`,
  events: (id: number, since: number) => `/api/runs/${id}/events/?since=${since}&limit=1000`,
  request: (id: number, name: string, attempt: number) =>
    `/api/runs/${id}/tasks/${task(name)}/request/?attempt=${attempt}`,
  outputs: (id: number, name: string, attempt: number) =>
    `/api/runs/${id}/tasks/${task(name)}/outputs/?attempt=${attempt}`,
  podEvents: (id: number, name: string, attempt: number) =>
    `/api/runs/${id}/tasks/${task(name)}/events/?attempt=${attempt}`,
  log: (id: number, name: string, attempt: number) => `/api/runs/${id}/tasks/${task(name)}/logs/?attempt=${attempt}`,
  rawLog: (id: number, name: string, attempt: number) => `/runs/${id}/tasks/${task(name)}/logs/raw/?attempt=${attempt}`,
  page: (id: number) => `/runs/${id}/`,
  wsRun: (id: number) => `/ws/runs/${id}/`,
  wsLog: (id: number, name: string) => `/ws/runs/${id}/tasks/${task(name)}/logs/`,
};
