// The /v1 API as the pages use it, with the caller's key kept for this browser session only
// (sessionStorage: never in a URL, never in a cookie).
const KEY = "qbt.key";

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
  }
}

export function key() { return sessionStorage.getItem(KEY); }
export function setKey(value) { sessionStorage.setItem(KEY, value); }
export function forget() { sessionStorage.removeItem(KEY); }

export async function request(method, path, { body, headers = {}, raw = false, token } = {}) {
  const auth = token || key();
  const response = await fetch(path, {
    method,
    headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}),
               ...(body !== undefined ? { "Content-Type": "application/json" } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    cache: "no-store",
  });
  if (!response.ok) {
    let error = null;
    try { error = (await response.json()).error; } catch (_) { /* not JSON */ }
    if (response.status === 401 && !token) {
      forget();
      location.hash = "#/signin";
    }
    throw new ApiError(response.status, error);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const del = (path) => request("DELETE", path);
