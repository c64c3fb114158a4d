// The page of a group invite link, /invite/<code>: the group's name, picture and member count
// (GET /api/invites/:code, no sign-in needed), or that the link no longer works. Signed out, the
// sign-in form follows, sending the code with send-otp so a new number may sign up under
// invitation-only registration; once signed in, joining (POST /api/invites/:code/accept) opens
// the chat — at once for someone who signed in on this page, after "Join group" for someone who
// already was.
import { h, setBusy } from '../dom.js';
import { t, tn } from '../i18n.js';
import * as api from '../api.js';
import * as router from '../router.js';
import * as store from '../store.js';
import { errorText } from '../errors.js';
import { avatar } from './avatar.js';
import { mountLogin } from './login.js';
import { toast } from './notify.js';

// The link this tab signed in from, so joining needs no second press once signed in.
const SIGNED_IN_FOR = 'clavox.inviteSignIn';

function remember(code) {
  try {
    sessionStorage.setItem(SIGNED_IN_FOR, code);
  } catch {
    // Without storage the person presses "Join group" after signing in.
  }
}

function takeRemembered(code) {
  try {
    if (sessionStorage.getItem(SIGNED_IN_FOR) !== code) return false;
    sessionStorage.removeItem(SIGNED_IN_FOR);
    return true;
  } catch {
    return false;
  }
}

// The group's card; `ready` resolves to the preview, or null when the link does not work.
function previewCard(code) {
  const el = h('div', { class: 'invite-card', 'data-testid': 'invite-card', 'aria-live': 'polite' },
    h('p', { class: 'muted' }, t('common.loading')));
  const ready = api.get(`/api/invites/${encodeURIComponent(code)}`, { auth: false }).then((preview) => {
    const { chat } = preview;
    el.replaceChildren(
      avatar({ id: code, name: chat.name, url: chat.avatar, group: true }, 'xl'),
      h('p', { class: 'muted' }, t('invitePage.invited')),
      h('h2', { class: 'invite-card-name', dir: 'auto', 'data-testid': 'invite-group-name' }, chat.name || ''),
      h('p', { class: 'muted', 'data-testid': 'invite-member-count' }, tn('invitePage.members', chat.memberCount)));
    return preview;
  }, (err) => {
    const gone = err.status === 404;
    el.classList.add('gone');
    el.replaceChildren(
      h('p', { class: 'form-error', role: 'alert', 'data-testid': 'invite-gone' }, gone ? t('invitePage.gone') : errorText(err)),
      gone ? h('p', { class: 'muted' }, t('invitePage.goneHelp')) : null);
    return null;
  });
  return { el, ready };
}

export const inviteCode = () => router.current().inviteCode || null;

// Signed out: the group, then the sign-in form carrying the code.
export function mountInvitePage(root) {
  const code = inviteCode();
  const card = previewCard(code);
  remember(code);
  return mountLogin(root, {
    invite: code,
    header: h('div', { class: 'stack invite-page' }, h('h2', { class: 'invite-page-title' }, t('invitePage.title')), card.el,
      h('p', { class: 'muted center' }, t('invitePage.signInFirst'))),
  });
}

// Signed in: the group and "Join group"; joining opens the chat.
export function mountInviteView(container, route) {
  const code = route.inviteCode;
  const card = previewCard(code);
  const join = h('button', { type: 'button', class: 'btn btn-primary btn-block', 'data-testid': 'invite-join', hidden: true }, t('invitePage.join'));
  const toChats = h('button', { type: 'button', class: 'btn btn-secondary btn-block', onclick: () => router.navigate('/', { replace: true }) }, t('invitePage.toChats'));
  const error = h('p', { class: 'form-error', role: 'alert' });
  const root = h('section', { class: 'panel invite-view', 'aria-label': t('invitePage.title') },
    h('div', { class: 'panel-scroll invite-view-body' },
      h('div', { class: 'stack invite-page' }, h('h1', { class: 'auth-title', tabindex: -1 }, t('invitePage.title')), card.el, join, error, toChats)));
  container.append(root);
  let alive = true;

  async function accept() {
    error.textContent = '';
    setBusy(join, true);
    try {
      const chat = await api.post(`/api/invites/${encodeURIComponent(code)}/accept`);
      if (!alive) return;
      store.upsertChat(chat);
      toast(t('invitePage.joined', { name: chat.name || '' }));
      router.navigate(`/chat/${encodeURIComponent(chat.id)}`, { replace: true });
    } catch (err) {
      setBusy(join, false);
      error.textContent = err.status === 404 ? t('invitePage.gone') : errorText(err, { group_full: t('invitePage.full') });
    }
  }
  join.addEventListener('click', accept);

  const signedInHere = takeRemembered(code);
  card.ready.then((preview) => {
    if (!alive || !preview) return;
    join.hidden = false;
    if (signedInHere) accept();
  });
  root.querySelector('h1')?.focus({ preventScroll: true });
  return () => {
    alive = false;
    root.remove();
  };
}
