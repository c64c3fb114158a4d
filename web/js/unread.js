// The unread count outside the chat list: in the page title ("(3) Clavox") and on the installed
// app's icon (the Badging API, where the browser has it), always the sum of the list's counts.
import * as store from './store.js';

const TITLE = 'Clavox';
let shown = -1;
let off = null;

function total() {
  let sum = 0;
  for (const chat of store.state.chats.values()) sum += chat.unreadCount || 0;
  return sum;
}

function show(count) {
  if (count === shown) return;
  shown = count;
  document.title = count ? `(${count}) ${TITLE}` : TITLE;
  if (!('setAppBadge' in navigator)) return;
  // Refused where the app is not installed or the page is not allowed to; the title still counts.
  const done = count ? navigator.setAppBadge(count) : navigator.clearAppBadge();
  done.catch(() => {});
}

export function start() {
  off?.();
  off = store.on('chats', () => show(total()));
  show(total());
}

export function stop() {
  off?.();
  off = null;
  show(0);
}
