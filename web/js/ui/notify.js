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

export function toast(text) {
  ensure();
  const el = h('div', { class: 'toast' }, text);
  host.append(el);
  setTimeout(() => el.remove(), TOAST_MS);
}

export function announce(text) {
  ensure();
  // Replacing the node makes repeated identical texts announce again.
  announcer.replaceChildren(h('p', null, text));
}
