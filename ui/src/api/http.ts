/**
 * The one HTTP client of the dashboard: JSON in and out, the user's API key
 * in `X-API-KEY` when the server asks for one, and the server's own error
 * message in the thrown ApiError (it names the problem and the fix).
 */

const API_KEY_STORAGE = 'sematic.apiKey';

export function getApiKey(): string | null {
  try {
    return window.localStorage.getItem(API_KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  if (key === null) window.localStorage.removeItem(API_KEY_STORAGE);
  else window.localStorage.setItem(API_KEY_STORAGE, key);
}

type UnauthorizedListener = (message: string) => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/**
 * Calls `listener` whenever the server answers 401 (no API key, or one that
 * is no user's): the shell shows the login page then. Returns the unsubscribe.
 */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => {
    unauthorizedListeners.delete(listener);
  };
}

/** Tells the onUnauthorized listeners; the HTTP client and the change feed call it on a 401. */
export function notifyUnauthorized(message: string): void {
  for (const l of [...unauthorizedListeners]) l(message);
}

/** A request the server answered with an error status, or that got no answer (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function apiHeaders(extra?: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { Accept: 'application/json', ...extra };
  const key = getApiKey();
  if (key !== null) headers['X-API-KEY'] = key;
  return headers;
}

/** Query string from a record; undefined values are left out. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let resp: Response;
  try {
    resp = await fetch(path, {
      method,
      headers: apiHeaders(body === undefined ? undefined : { 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the Sematic server (${String(e)}); is 'sematic start' running?`);
  }
  const text = await resp.text();
  let json: unknown = null;
  if (text !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiError(resp.status, `the server answered ${method} ${path} with something that is not JSON`);
    }
  }
  if (!resp.ok) {
    const msg =
      json !== null && typeof json === 'object' && 'error' in json && typeof json.error === 'string'
        ? json.error
        : `${method} ${path} failed with HTTP ${resp.status}`;
    if (resp.status === 401) notifyUnauthorized(msg);
    throw new ApiError(resp.status, msg);
  }
  return json as T;
}

export function apiGet<T>(path: string, signal?: AbortSignal): Promise<T> {
  return request<T>('GET', path, undefined, signal);
}

export function apiPost<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return request<T>('POST', path, body, signal);
}

export function apiPut<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return request<T>('PUT', path, body, signal);
}

export function apiDelete<T>(path: string, signal?: AbortSignal): Promise<T> {
  return request<T>('DELETE', path, undefined, signal);
}
