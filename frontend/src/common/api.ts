// Talking to Flowdeck's REST API from a page the session is logged in to.

/** Django's CSRF token, from the cookie the pages set. */
export function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public body: unknown,
  ) {
    super(describeError(status, body));
  }
}

function describeError(status: number, body: unknown): string {
  if (body && typeof body === "object" && "detail" in body) {
    return String((body as { detail: unknown }).detail);
  }
  return `HTTP ${status}`;
}

export async function api<T>(
  path: string,
  options: { method?: string; body?: unknown; text?: { body: string; type: string } } = {},
): Promise<T> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: string | undefined;
  if (options.text !== undefined) {
    // A file sent as it is (an Argo file: YAML, comments and all).
    headers["Content-Type"] = options.text.type;
    body = options.text.body;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(path, {
    method,
    headers,
    body,
    credentials: "same-origin",
  });
  const text = await response.text();
  const parsed: unknown = text ? safeJson(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Data the Django template put on the mount point (data-* attributes). */
export function mountData(element: HTMLElement): Record<string, string> {
  return { ...element.dataset } as Record<string, string>;
}
