// The signed-in session: tokens, their expiry and the current user. It lives in localStorage so a
// reload stays signed in and every tab shares one refresh-token chain.
import { createEmitter } from './emitter.js';

const STORAGE_KEY = 'clavox.session';
const DEFAULT_LIFETIME_S = 900;
const events = createEmitter();
let current = read();
let signOutReason = null;

function read() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY)) || null;
  } catch {
    return null;
  }
}

function write() {
  try {
    if (current) localStorage.setItem(STORAGE_KEY, JSON.stringify(current));
    else localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage blocked (private mode): the session lasts until the tab closes.
  }
}

function update(next) {
  current = next;
  write();
  events.emit('change');
}

// Seconds an access token lives: the server's expiresIn, else exp - iat from the JWT itself,
// which stays right even when this device's clock is off.
function lifetimeOf({ accessToken, expiresIn }) {
  if (Number.isFinite(expiresIn) && expiresIn > 0) return expiresIn;
  try {
    const claims = JSON.parse(atob(accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    if (claims.exp > claims.iat) return claims.exp - claims.iat;
  } catch {
    // Not a readable JWT; use the server's documented default.
  }
  return DEFAULT_LIFETIME_S;
}

function tokenFields(tokens) {
  const expiresIn = lifetimeOf(tokens);
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresIn,
    expiresAt: Date.now() + expiresIn * 1000,
  };
}

export const get = () => current;
export const onChange = (fn) => events.on('change', fn);

export function start(tokens, user, needsName) {
  signOutReason = null;
  update({ ...tokenFields(tokens), user, needsName });
}

export function setTokens(tokens) {
  if (current) update({ ...current, ...tokenFields(tokens) });
}

export function setUser(user, extra = {}) {
  if (current) update({ ...current, user, ...extra });
}

// `reason` ("expired" when the server ended the session) is shown once on the login screen.
export function clear(reason = null) {
  signOutReason = reason;
  update(null);
}

export function takeSignOutReason() {
  const reason = signOutReason;
  signOutReason = null;
  return reason;
}

// Another tab signed in, out, or rotated the tokens.
window.addEventListener('storage', (event) => {
  if (event.key !== STORAGE_KEY && event.key !== null) return;
  const wasSignedIn = Boolean(current);
  current = read();
  if (wasSignedIn && !current) signOutReason = 'expired';
  events.emit('change');
});
