// Boot: choose the screen for the session (sign-in, name, or the app), start and stop the
// background services with it, and remount the UI when the language changes. Once per page: the
// service worker, the install offer and the new-version prompt.
import * as session from './session.js';
import * as api from './api.js';
import * as connection from './connection.js';
import * as store from './store.js';
import * as sync from './sync.js';
import * as outbox from './outbox.js';
import * as people from './people.js';
import * as worker from './worker.js';
import * as install from './install.js';
import { onLangChange } from './i18n.js';
import { mountLogin } from './ui/login.js';
import { mountNameStep } from './ui/name-step.js';
import { mountShell } from './ui/shell.js';
import { watchForUpdates } from './ui/app-notices.js';

const root = document.getElementById('app');
let mode = null;
let userId = null;
let unmount = null;

function modeFor(current) {
  if (!current) return 'login';
  return current.needsName ? 'name' : 'app';
}

function startServices(user) {
  store.reset(user);
  people.forgetAll();
  outbox.load(user.id);
  sync.start();
  connection.start();
  // The stored copy of this user may be stale (renamed on another device).
  api.get('/api/users/profile').then((fresh) => {
    store.putUser(fresh);
    session.setUser(fresh);
  }, () => {});
}

function stopServices() {
  connection.stop();
  sync.stop();
  outbox.unload();
  store.reset(null);
  people.forgetAll();
}

function render(force = false) {
  const current = session.get();
  const nextMode = modeFor(current);
  const nextUser = current?.user?.id ?? null;
  if (!force && nextMode === mode && nextUser === userId) return;

  const wasRunning = mode === 'app';
  const willRun = nextMode === 'app';
  const sameUser = nextUser === userId;
  if (wasRunning && (!willRun || !sameUser)) stopServices();
  if (willRun && (!wasRunning || !sameUser)) startServices(current.user);
  mode = nextMode;
  userId = nextUser;

  unmount?.();
  root.replaceChildren();
  if (nextMode === 'login') unmount = mountLogin(root);
  else if (nextMode === 'name') unmount = mountNameStep(root);
  else unmount = mountShell(root);
}

function updateTitle() {
  const unread = [...store.state.chats.values()].reduce((sum, chat) => sum + (chat.unreadCount || 0), 0);
  document.title = unread ? `(${unread}) Clavox` : 'Clavox';
}

session.onChange(() => {
  api.keepFresh();
  render();
});
onLangChange(() => render(true));
store.on('chats', updateTitle);
api.keepFresh();
render();
install.listen();
worker.register();
watchForUpdates();
