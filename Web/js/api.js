// REST helpers: JSON in and out, a timeout on every call, and errors that carry the server's reason.

export class APIError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? "http_error";
    this.retryAfterMs = body?.retryAfterMs ?? null;
  }
}

async function request(method, path, { query, body, timeout = 10000 } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  try {
    const response = await fetch(url, {
      method,
      signal: controller.signal,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    const text = await response.text();
    let parsed = null;
    if (text.length) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { error: "bad_response", message: `the server answered ${response.status} with non-JSON` };
      }
    }
    if (!response.ok) throw new APIError(response.status, parsed);
    return parsed;
  } catch (error) {
    if (error instanceof APIError) throw error;
    if (error.name === "AbortError") throw new APIError(0, { error: "timeout", message: `${path} timed out` });
    throw new APIError(0, { error: "network", message: `${path}: ${error.message}` });
  } finally {
    clearTimeout(timer);
  }
}

export const api = {
  aggs: (params) => request("GET", "/api/market/aggs", { query: params }),
  warm: (hints) => request("POST", "/api/market/aggs/warm", { body: hints }),
  chain: (ticker, params) =>
    request("GET", `/api/market/options/chain/${encodeURIComponent(ticker)}`, { query: params }),
  expirations: (ticker) => request("GET", `/api/market/options/expirations/${encodeURIComponent(ticker)}`),
  contract: (symbol) => request("GET", `/api/market/options/contracts/${encodeURIComponent(symbol)}`),
  selection: () => request("GET", "/api/market/options/selection"),
  saveSelection: (selection) => request("POST", "/api/market/options/selection", { body: selection }),
  quote: (symbol) => request("GET", `/api/market/quotes/${encodeURIComponent(symbol)}`),
  trades: (symbol, limit = 50) =>
    request("GET", `/api/market/trades/${encodeURIComponent(symbol)}`, { query: { limit } }),
  watchlist: (tickers) => request("GET", "/api/market/watchlist", { query: { tickers: tickers.join(",") } }),
  health: () => request("GET", "/health"),
};
