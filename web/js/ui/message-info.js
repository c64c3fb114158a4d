// "Message info" for one's own group message: who has read it, who has it on a device but not read,
// and who does not have it yet, with times. Fetched fresh when it opens, and again while it stays
// open whenever a read or delivery mark of the chat comes in.
import { h } from '../dom.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import * as people from '../people.js';
import * as actions from '../message-actions.js';
import { fullDateTime } from '../format.js';
import { errorText } from '../errors.js';
import { avatar } from './avatar.js';
import { openSheet } from './sheet.js';

function section(title, testid, rows) {
  if (!rows.length) return null;
  return h('section', { class: 'stack info-group', 'data-testid': testid },
    h('h3', { class: 'section-title' }, title),
    h('ul', { class: 'people-list' }, rows.map(({ userId, at }) => h('li', { class: 'person' },
      avatar(people.userFace({ id: userId, ...people.user(userId) }), 'sm'),
      h('span', { class: 'person-text' },
        h('span', { class: 'person-name', dir: 'auto' }, people.nameOf(userId)),
        at ? h('span', { class: 'person-sub' }, h('time', { datetime: at }, fullDateTime(at))) : null)))));
}

function render(body, message) {
  const chat = store.state.chats.get(message.chatId);
  const others = (chat?.participants || []).filter((id) => id !== message.senderId);
  const readAt = new Map((message.readBy || []).map((r) => [r.userId, r.readAt]));
  const deliveredAt = new Map((message.deliveredTo || []).map((d) => [d.userId, d.deliveredAt]));
  const read = others.filter((id) => readAt.has(id)).map((userId) => ({ userId, at: readAt.get(userId) }));
  const delivered = others.filter((id) => !readAt.has(id) && deliveredAt.has(id)).map((userId) => ({ userId, at: deliveredAt.get(userId) }));
  const waiting = others.filter((id) => !readAt.has(id) && !deliveredAt.has(id)).map((userId) => ({ userId }));
  body.replaceChildren(...[
    section(t('info.readBy'), 'info-read', read),
    section(t('info.deliveredTo'), 'info-delivered', delivered),
    section(t('info.waiting'), 'info-waiting', waiting),
  ].filter(Boolean));
}

export function openMessageInfo(message) {
  const body = h('div', { class: 'stack message-info' }, h('p', { class: 'muted' }, t('common.loading')));
  const sheet = openSheet({ label: t('menu.info'), title: t('menu.info'), testid: 'message-info', className: 'list-sheet', content: [body] });
  let asked = 0;

  async function refresh() {
    const mine = ++asked;
    try {
      const fresh = await actions.fetchFresh(message);
      if (mine === asked && sheet.isOpen()) render(body, fresh);
    } catch (err) {
      if (mine === asked && sheet.isOpen()) body.replaceChildren(h('p', { class: 'form-error' }, errorText(err)));
    }
  }

  const off = store.on('reads', (chatId) => {
    if (chatId === message.chatId) refresh();
  });
  sheet.dialog.addEventListener('close', off);
  refresh();
}
