// Boot: choose the screen for the session (sign-in, name, or the app), start and stop the
// background services with it, and remount the UI when the language changes. Once per page: the
// service worker, the install offer, the new-version prompt and opening a chat from a notification.
import * as session from './session.js';
import * as api from './api.js';
import * as connection from './connection.js';
import * as store from './store.js';
import * as sync from './sync.js';
import * as outbox from './outbox.js';
import * as uploads from './upload-queue.js';
import * as people from './people.js';
import * as worker from './worker.js';
import * as install from './install.js';
import * as router from './router.js';
import * as notifications from './notifications.js';
import * as unread from './unread.js';
import * as sound from './sound.js';
import { onLangChange } from './i18n.js';
import { mountLogin } from './ui/login.js';
import { mountInvitePage } from './ui/invite-page.js';
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
  uploads.load(user.id);
  sync.start();
  connection.start();
  unread.start();
  sound.start();
  notifications.resume();
  // The stored copy of this user may be stale (renamed on another device).
  api.get('/api/users/profile').then((fresh) => {
    store.putUser(fresh);
    session.setUser(fresh);
  }, () => {});
}

function stopServices() {
  sound.stop();
  unread.stop();
  connection.stop();
  sync.stop();
  outbox.unload();
  uploads.unload();
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
  if (nextMode === 'login') unmount = router.current().view === 'invite' ? mountInvitePage(root) : mountLogin(root);
  else if (nextMode === 'name') unmount = mountNameStep(root);
  else unmount = mountShell(root);
}

session.onChange(() => {
  api.keepFresh();
  render();
});
onLangChange(() => render(true));
api.keepFresh();
render();
install.listen();
worker.register();
watchForUpdates();
// Chat to chat replaces the entry, as in the list, so Back leads to the list.
notifications.listen({
  chatOnScreen: () => (mode === 'app' ? store.state.viewing : null),
  onOpenChat: (chatId) => router.navigate(`/chat/${encodeURIComponent(chatId)}`, { replace: Boolean(router.current().chatId) }),
});
// Opening a chat (not arriving on one) is the moment to offer notifications.
router.onRoute((route) => {
  if (route.chatId) notifications.engaged();
});
