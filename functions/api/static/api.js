// Talking to the API: where it is, and JSON with clear errors.

const TIMEOUT_MS = 10000;
const KEY_STORAGE = "mdw.apiKey";

/** An API key for deployments that require one for reads; kept for this tab only. */
export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE),
  set: (key) => (key ? sessionStorage.setItem(KEY_STORAGE, key) : sessionStorage.removeItem(KEY_STORAGE)),
};

/**
 * The API base URL, without a trailing slash.
 * `?api_base=` wins; otherwise the page's own prefix: the dashboard may live at
 * /prod/dashboard/ behind API Gateway, so the API is at /prod, not at /.
 */
export function apiBase(loc = window.location) {
  const param = new URLSearchParams(loc.search).get("api_base");
  if (param) {
    const url = new URL(param, loc.href);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(`api_base must be an http(s) URL, not ${url.protocol}`);
    }
    return (url.origin + url.pathname).replace(/\/+$/, "");
  }
  const match = loc.pathname.match(/^(.*)\/dashboard(?:\/[^/]*)?$/);
  return loc.origin + (match ? match[1] : "");
}

/** The API answered, with an error status (body: RFC 9457 problem when it can). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** The request never got an HTTP answer: API down, network, CORS or timeout. */
export class UnreachableError extends Error {}

export async function getJson(url) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    const headers = { Accept: "application/json" };
    if (apiKey.get()) headers["X-API-Key"] = apiKey.get();
    response = await fetch(url, { headers, signal: controller.signal });
  } catch (err) {
    const why = err.name === "AbortError" ? `no answer within ${TIMEOUT_MS / 1000} s` : "network error";
    throw new UnreachableError(`${url} — ${why}`);
  } finally {
    clearTimeout(timer);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** getJson, plus how long the round trip took (ms). */
export async function timedJson(url) {
  const started = performance.now();
  const body = await getJson(url);
  return { body, ms: Math.round(performance.now() - started) };
}
