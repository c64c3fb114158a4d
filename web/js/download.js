// Files the server makes for a signed-in person (a backup, an export): fetched with the bearer
// token — a plain link cannot carry it — and handed to the browser as a download of a blob.
import * as session from './session.js';
import { ApiError, refresh } from './api.js';

async function fetchWith(method, path, token) {
  try {
    return await fetch(path, { method, headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch {
    throw new ApiError(0, { code: 'network' });
  }
}

// The name the server gave in Content-Disposition, else `fallback`.
function fileName(response, fallback) {
  const header = response.headers.get('Content-Disposition') || '';
  const match = header.match(/filename="([^"]+)"/);
  return match ? match[1] : fallback;
}

// Fetches `path` and saves the answer as a file; rejects with an ApiError as the REST client does.
export async function download(method, path, fallbackName) {
  const token = session.get()?.accessToken;
  if (!token) throw new ApiError(401, { code: 'unauthorized' });
  let response = await fetchWith(method, path, token);
  if (response.status === 401) {
    await refresh(token);
    response = await fetchWith(method, path, session.get()?.accessToken);
  }
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new ApiError(response.status, body, Number(response.headers.get('Retry-After')) || null);
  }
  let blob;
  try {
    blob = await response.blob();
  } catch {
    throw new ApiError(0, { code: 'network' }); // the stream broke off part way
  }
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName(response, fallbackName);
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later: the browser reads the blob after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return link.download;
}
