// History-API routing: the URL names what is on screen, so reloads, deep links and a phone's back
// button all behave. Routes: / · /new · /new-group · /profile · /admin · /chat/:id · /chat/:id/info ·
// /invite/:code (a group's invite link).
// /chats/:id, the address in notifications and ntfy links, opens /chat/:id.
import { createEmitter } from './emitter.js';

const events = createEmitter();
let depth = history.state?.depth ?? 0; // in-app entries behind this one

const linked = location.pathname.match(/^\/chats\/([^/]+)\/?$/);
if (linked) history.replaceState(history.state, '', `/chat/${linked[1]}`);

export const onRoute = (fn) => events.on('route', fn);

export function current() {
  const path = location.pathname;
  const chat = path.match(/^\/chat\/([^/]+)(\/info)?\/?$/);
  if (chat) return { view: chat[2] ? 'info' : 'chat', chatId: decodeURIComponent(chat[1]) };
  const invite = path.match(/^\/invite\/([^/]+)\/?$/);
  if (invite) return { view: 'invite', chatId: null, inviteCode: decodeURIComponent(invite[1]) };
  const panels = { '/new': 'new-chat', '/new-group': 'new-group', '/profile': 'profile', '/admin': 'admin' };
  return { view: panels[path] || 'list', chatId: null };
}

export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname) return;
  if (replace) history.replaceState({ depth }, '', path);
  else {
    depth += 1;
    history.pushState({ depth }, '', path);
  }
  events.emit('route', current());
}

// An entry for something shown over the current screen (the photo viewer), so a phone's Back
// closes it instead of leaving the screen. The URL stays. Returns `leave`, for closing it some
// other way: it takes the entry back off the history, if it is still the current one.
export function pushOverlay() {
  depth += 1;
  const mine = depth;
  history.pushState({ depth, overlay: true }, '', location.pathname);
  return () => {
    if (history.state?.overlay && history.state.depth === mine) history.back();
  };
}

// Back within the app when there is somewhere to go back to, else up to `fallback`.
export function back(fallback = '/') {
  if (depth > 0) history.back();
  else navigate(fallback, { replace: true });
}

window.addEventListener('popstate', (event) => {
  depth = event.state?.depth ?? 0;
  events.emit('route', current());
});
