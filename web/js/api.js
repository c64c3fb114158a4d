// The REST client: JSON in and out, the bearer token on every call, and one shared token refresh
// (per tab via a single promise, across tabs via a lock) because the server rotates refresh tokens
// and treats a reused one as theft.
import * as session from './session.js';

export class ApiError extends Error {
  constructor(status, body, retryAfterHeader) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || (status ? `http_${status}` : 'network');
    this.body = body || {};
    this.retryAfter = body?.retryAfter ?? retryAfterHeader ?? null;
  }
}

async function send(method, path, { body, token, raw } = {}) {
  const headers = {};
  let payload;
  if (raw) {
    payload = raw.data;
    headers['Content-Type'] = raw.type || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  } catch {
    throw new ApiError(0, { code: 'network' });
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON (e.g. a proxy's error page); the status still tells the story.
  }
  if (!response.ok) throw new ApiError(response.status, data, Number(response.headers.get('Retry-After')) || null);
  return data;
}

async function request(method, path, { body, raw, auth = true } = {}) {
  if (!auth) return send(method, path, { body, raw });
  let token = await freshToken();
  try {
    return await send(method, path, { body, raw, token });
  } catch (err) {
    if (err.status !== 401) throw err;
    await refresh(token);
    token = session.get()?.accessToken;
    try {
      return await send(method, path, { body, raw, token });
    } catch (retryErr) {
      // Fresh tokens still refused: the session was ended elsewhere.
      if (retryErr.status === 401) session.clear('expired');
      throw retryErr;
    }
  }
}

async function freshToken() {
  const current = session.get();
  if (!current) throw new ApiError(401, { code: 'unauthorized' });
  // About to expire (last 10 s, or last tenth of a short lifetime): refresh first.
  const margin = Math.min(10_000, current.expiresIn * 100);
  if (current.expiresAt - Date.now() < margin) await refresh(current.accessToken).catch(() => {});
  return session.get()?.accessToken ?? current.accessToken;
}

export const get = (path, options) => request('GET', path, options);
export const post = (path, body, options) => request('POST', path, { body, ...options });
export const put = (path, body) => request('PUT', path, { body });
export const patch = (path, body) => request('PATCH', path, { body });
export const del = (path, body) => request('DELETE', path, { body });

export function upload(file) {
  const name = encodeURIComponent(file.name || 'file');
  return request('POST', `/api/uploads?name=${name}`, { raw: { data: file, type: file.type } });
}

// One try of an upload over XMLHttpRequest, whose upload events (unlike fetch's) report progress.
function sendTracked(blob, name, token, { onProgress, signal }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const abort = () => xhr.abort();
    const done = () => signal?.removeEventListener('abort', abort);
    xhr.open('POST', `/api/uploads?name=${encodeURIComponent(name || 'file')}`);
    xhr.setRequestHeader('Content-Type', blob.type || 'application/octet-stream');
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(new ApiError(xhr.status, xhr.response, Number(xhr.getResponseHeader('Retry-After')) || null));
    });
    xhr.addEventListener('error', () => {
      done();
      reject(new ApiError(0, { code: 'network' }));
    });
    xhr.addEventListener('abort', () => {
      done();
      reject(new ApiError(0, { code: 'aborted' }));
    });
    if (signal?.aborted) {
      reject(new ApiError(0, { code: 'aborted' }));
      return;
    }
    signal?.addEventListener('abort', abort);
    xhr.send(blob);
  });
}

// `upload` with progress (`onProgress(fraction)`) and cancelling (`signal`); the same token rules.
export async function uploadTracked(blob, name, options = {}) {
  const token = await freshToken();
  try {
    return await sendTracked(blob, name, token, options);
  } catch (err) {
    if (err.status !== 401) throw err;
    await refresh(token);
    return sendTracked(blob, name, session.get()?.accessToken, options);
  }
}

export async function logout() {
  try {
    await post('/api/auth/logout');
  } finally {
    session.clear('logout');
  }
}

// ---- Token refresh ----

let refreshing = null;

// Refreshes unless `staleToken` was already replaced (by this tab or another). Rejects with an
// ApiError; a 401 means the session is over and it has been cleared.
export function refresh(staleToken) {
  if (!refreshing) {
    refreshing = withTabLock(() => rotate(staleToken)).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function rotate(staleToken) {
  const current = session.get();
  if (!current?.refreshToken) throw new ApiError(401, { code: 'unauthorized' });
  // Already replaced, and still in the first half of its life: another tab (or call) refreshed.
  if (current.accessToken !== staleToken && current.expiresAt - Date.now() > current.expiresIn * 500) return;
  try {
    session.setTokens(await send('POST', '/api/auth/refresh-token', { token: current.refreshToken }));
  } catch (err) {
    if (err.status === 401) session.clear('expired');
    throw err;
  }
}

const LOCK_KEY = 'clavox.refresh-lock';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Web Locks where available (secure contexts); on plain-http LAN installs, a localStorage lease.
async function withTabLock(fn) {
  if (navigator.locks) return navigator.locks.request('clavox-token-refresh', fn);
  const me = Math.random().toString(36).slice(2);
  const readLease = () => {
    try {
      return JSON.parse(localStorage.getItem(LOCK_KEY));
    } catch {
      return null;
    }
  };
  for (let tries = 0; tries < 60; tries += 1) {
    const lease = readLease();
    if (!lease || lease.until < Date.now()) {
      localStorage.setItem(LOCK_KEY, JSON.stringify({ me, until: Date.now() + 10_000 }));
      await sleep(40);
      if (readLease()?.me === me) {
        try {
          return await fn();
        } finally {
          localStorage.removeItem(LOCK_KEY);
        }
      }
    }
    await sleep(200);
  }
  return fn();
}

let freshTimer = 0;

// Refreshes at about 80 % of the access token's life (with jitter so tabs don't collide),
// so REST calls and the socket never meet an expired token.
export function keepFresh() {
  clearTimeout(freshTimer);
  const current = session.get();
  if (!current?.refreshToken) return;
  const lifetime = current.expiresIn * 1000;
  const jitter = (Math.random() - 0.5) * 0.1 * lifetime;
  const wait = Math.max(0, current.expiresAt - Date.now() - lifetime * 0.2 + jitter);
  freshTimer = setTimeout(() => {
    refresh(current.accessToken).catch((err) => {
      if (err.status !== 401) freshTimer = setTimeout(keepFresh, 15_000);
    });
  }, wait);
}
