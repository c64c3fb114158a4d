// Short-lived toasts and a visually hidden live region for screen-reader announcements.
import { h } from '../dom.js';

const TOAST_MS = 4_500;
let host = null;
let announcer = null;

function ensure() {
  if (host) return;
  host = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
  announcer = h('div', { class: 'sr-only', 'aria-live': 'polite' });
  document.body.append(host, announcer);
}

// Shows `text` for a few seconds (`ms` for longer advice); the returned function takes it away
// sooner (e.g. "Uploading…" once the upload is done).
export function toast(text, ms = TOAST_MS) {
  ensure();
  const el = h('div', { class: 'toast' }, text);
  host.append(el);
  const timer = setTimeout(() => el.remove(), ms);
  return () => {
    clearTimeout(timer);
    el.remove();
  };
}

export function announce(text) {
  ensure();
  // Replacing the node makes repeated identical texts announce again.
  announcer.replaceChildren(h('p', null, text));
}

// Puts `el` (a notice with buttons of its own) among the toasts until the returned function is called.
export function notice(el) {
  ensure();
  host.append(el);
  return () => el.remove();
}
