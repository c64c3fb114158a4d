// Users: the server's accounts, searched by name or number and paged by `next`; per account,
// disable or enable, make or remove admin, and sign out everywhere (after a confirmation); and
// inviting a number, which under invitation-only sign-up is how someone new gets in.
import { h, setBusy } from '../../dom.js';
import { t, tn } from '../../i18n.js';
import * as api from '../../api.js';
import * as store from '../../store.js';
import { presence } from '../../format.js';
import { errorText } from '../../errors.js';
import { avatar } from '../avatar.js';
import { phoneField } from '../phone-field.js';
import { toast } from '../notify.js';
import { adminError } from './common.js';

const SEARCH_DELAY_MS = 250;

const displayName = (account) => account.name || account.phoneNumber || t('admin.users.noName');

function lastSeenText(account) {
  if (account.isOnline) return t('admin.users.online');
  if (!account.lastSeen) return t('admin.users.neverSeen');
  return presence(account);
}

export function usersSection() {
  const search = h('input', {
    id: 'admin-user-search',
    class: 'input',
    type: 'search',
    autocomplete: 'off',
    placeholder: t('admin.users.search'),
    'aria-label': t('admin.users.search'),
    'data-testid': 'admin-user-search',
  });
  const list = h('ul', { class: 'admin-list', 'data-testid': 'admin-users', 'aria-label': t('admin.tab.users') });
  const status = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', class: 'btn btn-secondary btn-block', hidden: true, onclick: () => load(false) }, t('admin.users.more'));
  let next = null;
  let generation = 0;
  let searchTimer = 0;

  async function load(fresh) {
    const mine = ++generation;
    const query = new URLSearchParams();
    const q = search.value.trim();
    if (q) query.set('q', q);
    if (!fresh && next) query.set('cursor', next);
    if (fresh) status.textContent = t('common.loading');
    setBusy(more, true);
    try {
      const page = await api.get(`/api/admin/users?${query}`);
      if (mine !== generation) return;
      if (fresh) list.replaceChildren();
      list.append(...page.users.map(accountItem));
      next = page.next;
      status.textContent = list.children.length ? '' : t('admin.users.none');
    } catch (err) {
      if (mine === generation) status.textContent = adminError(err);
    } finally {
      if (mine === generation) {
        setBusy(more, false);
        more.hidden = !next;
      }
    }
  }

  function accountItem(account) {
    const error = h('p', { class: 'form-error', role: 'alert' });
    const self = account.id === store.state.me?.id;
    const item = h('li', { class: 'admin-item admin-user', 'data-testid': 'admin-user', 'data-phone': account.phoneNumber, 'data-user-id': account.id });

    async function act(button, run) {
      error.textContent = '';
      setBusy(button, true);
      try {
        const changed = await run();
        if (changed) item.replaceWith(accountItem(changed));
        else setBusy(button, false);
      } catch (err) {
        setBusy(button, false);
        error.textContent = adminError(err);
      }
    }

    const name = displayName(account);
    const post = (action) => () => api.post(`/api/admin/users/${account.id}/${action}`);
    const disabled = account.status === 'disabled';
    const admin = account.role === 'admin';
    const button = (testid, label, run, danger = false) => {
      const el = h('button', { type: 'button', class: `btn btn-small ${danger ? 'btn-danger' : 'btn-secondary'}`, 'data-testid': testid });
      el.textContent = label;
      el.addEventListener('click', () => act(el, run));
      return el;
    };
    const actions = [
      button(disabled ? 'admin-enable' : 'admin-disable', disabled ? t('admin.users.enable') : t('admin.users.disable'), () => {
        if (!disabled && !window.confirm(t('admin.users.confirmDisable', { name }))) return null;
        return post(disabled ? 'enable' : 'disable')();
      }, !disabled),
      button(admin ? 'admin-demote' : 'admin-promote', admin ? t('admin.users.demote') : t('admin.users.promote'), post(admin ? 'demote' : 'promote')),
      button('admin-sign-out', t('admin.users.signOut'), async () => {
        if (!window.confirm(t('admin.users.confirmSignOut', { name }))) return null;
        await api.del(`/api/admin/users/${account.id}/sessions`);
        toast(t('admin.users.signedOut', { name }));
        return { ...account, sessions: 0 };
      }),
    ];

    item.append(
      h('div', { class: 'admin-user-head' },
        avatar({ id: account.id, name: account.name, url: account.avatar, online: Boolean(account.isOnline) }, 'sm'),
        h('div', { class: 'admin-user-text' },
          h('span', { class: 'person-name', dir: 'auto' }, account.name || t('admin.users.noName'), self ? ` · ${t('admin.users.you')}` : ''),
          h('span', { class: 'person-sub' }, account.phoneNumber)),
        h('span', { class: 'admin-user-tags' },
          h('span', { class: `tag${admin ? ' tag-accent' : ''}`, 'data-testid': 'admin-user-role' }, t(`admin.users.role.${account.role || 'member'}`)),
          h('span', { class: `tag${disabled ? ' tag-danger' : ''}`, 'data-testid': 'admin-user-status' }, t(`admin.users.status.${disabled ? 'disabled' : 'active'}`)))),
      h('p', { class: 'admin-user-meta muted' },
        tn('admin.users.sessions', account.sessions ?? 0), ' · ', lastSeenText(account)),
      h('div', { class: 'admin-actions' }, actions),
      error);
    return item;
  }

  // Inviting a number.
  const field = phoneField({ id: 'admin-invite-phone', testid: 'admin-invite-phone' });
  const inviteButton = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'admin-invite-submit' }, t('admin.invite.submit'));
  const inviteError = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'admin-invite-error' });
  const inviteStatus = h('p', { class: 'form-status', role: 'status', 'data-testid': 'admin-invite-status' });

  async function invite(event) {
    event.preventDefault();
    inviteError.textContent = '';
    inviteStatus.textContent = '';
    if (!field.plausible()) {
      inviteError.textContent = t('login.phoneMissing');
      field.input.focus();
      return;
    }
    setBusy(inviteButton, true);
    try {
      const answer = await api.post('/api/admin/users/invite', { phoneNumber: field.value() });
      inviteStatus.textContent = t('admin.invite.done', { phone: answer.phoneNumber });
      field.input.value = '';
      field.input.dispatchEvent(new Event('input'));
    } catch (err) {
      inviteError.textContent = errorText(err, { validation_failed: t('login.phoneInvalid'), forbidden: t('admin.notAdmin') });
      field.input.focus();
    } finally {
      setBusy(inviteButton, false);
    }
  }

  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => load(true), SEARCH_DELAY_MS);
  });

  const el = h('div', { class: 'admin-section stack' },
    h('form', { class: 'admin-card stack', novalidate: true, onsubmit: invite, 'data-testid': 'admin-invite' },
      h('h2', { class: 'section-title' }, h('label', { for: 'admin-invite-phone' }, t('admin.invite.title'))),
      h('p', { class: 'help' }, t('admin.invite.help')),
      field.el,
      inviteButton,
      inviteError,
      inviteStatus),
    search,
    status,
    list,
    more);
  load(true);
  return { el, destroy: () => clearTimeout(searchTimer) };
}
