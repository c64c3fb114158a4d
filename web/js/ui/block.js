// Blocking: "Block" / "Unblock" in a private chat's info (PUT / DELETE /api/users/:id/block), and
// the list of blocked people in the settings with unblocking (GET /api/users/blocked). The server
// keeps blocks private; this device learns its own from that list.
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import * as people from '../people.js';
import * as store from '../store.js';
import { errorText } from '../errors.js';
import { avatar } from './avatar.js';
import { toast } from './notify.js';

const blockedPath = (userId) => `/api/users/${encodeURIComponent(userId)}/block`;

async function blockedUsers() {
  const { users } = await api.get('/api/users/blocked');
  users.forEach(store.putUser);
  return users;
}

// The button in a private chat's info. `update(userId)` points it at the other person.
export function blockControl() {
  const button = h('button', { type: 'button', class: 'btn btn-danger btn-block', 'data-testid': 'block-toggle' });
  const note = h('p', { class: 'help' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const el = h('div', { class: 'stack', hidden: true }, button, note, error);
  let peer = null;
  let blocked = null; // unknown until the list has come

  function render() {
    button.disabled = blocked === null;
    button.replaceChildren(icon('ban'), blocked ? t('block.unblock') : t('block.block'));
    note.textContent = blocked ? t('block.isBlocked') : t('block.help');
  }

  button.addEventListener('click', async () => {
    const name = people.nameOf(peer);
    if (!blocked && !window.confirm(t('block.confirm', { name }))) return;
    error.textContent = '';
    setBusy(button, true);
    try {
      await (blocked ? api.del(blockedPath(peer)) : api.put(blockedPath(peer)));
      blocked = !blocked;
      toast(blocked ? t('block.done', { name }) : t('block.undone', { name }));
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      setBusy(button, false);
      render();
    }
  });

  return {
    el,
    update(userId) {
      el.hidden = !userId;
      if (!userId || userId === peer) return;
      peer = userId;
      blocked = null;
      render();
      blockedUsers().then((users) => {
        if (peer !== userId) return;
        blocked = users.some((u) => u.id === userId);
        render();
      }, (err) => {
        error.textContent = errorText(err);
      });
    },
  };
}

// The settings' list of blocked people, each with Unblock.
export function blockedList() {
  const list = h('ul', { class: 'people-list', 'data-testid': 'blocked-list', 'aria-label': t('block.listTitle') });
  const status = h('p', { class: 'muted', role: 'status' }, t('common.loading'));
  const el = h('div', { class: 'stack' }, h('h2', { class: 'section-title' }, t('block.listTitle')), status, list);

  function item(user) {
    const name = user.name || user.phoneNumber || t('people.someone');
    const unblock = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'unblock', 'aria-label': t('block.unblockNamed', { name }) }, t('block.unblock'));
    const row = h('li', { class: 'person', 'data-testid': 'blocked-person', 'data-user-id': user.id },
      avatar({ id: user.id, name: user.name, url: user.avatar }, 'sm'),
      h('span', { class: 'person-text' },
        h('span', { class: 'person-name', dir: 'auto' }, name),
        h('span', { class: 'person-sub' }, user.phoneNumber || '')),
      unblock);
    unblock.addEventListener('click', async () => {
      setBusy(unblock, true);
      try {
        await api.del(blockedPath(user.id));
        row.remove();
        toast(t('block.undone', { name }));
        if (!list.children.length) status.textContent = t('block.listEmpty');
      } catch (err) {
        setBusy(unblock, false);
        status.textContent = errorText(err);
      }
    });
    return row;
  }

  blockedUsers().then((users) => {
    list.replaceChildren(...users.map(item));
    status.textContent = users.length ? '' : t('block.listEmpty');
  }, (err) => {
    status.textContent = errorText(err);
  });
  return { el };
}
