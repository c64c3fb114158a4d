// Forwarding a message: tick one or more chats (up to 20, the server's limit), then Forward. The
// copies arrive in those chats marked "Forwarded".
import { h, setBusy } from '../dom.js';
import { t, tn } from '../i18n.js';
import * as store from '../store.js';
import * as people from '../people.js';
import * as actions from '../message-actions.js';
import { errorText } from '../errors.js';
import { avatar } from './avatar.js';
import { openSheet } from './sheet.js';
import { toast } from './notify.js';

const MAX_CHATS = 20;

export function openForward(message) {
  const chosen = new Set();
  const send = h('button', { type: 'button', class: 'btn btn-primary btn-block', 'data-testid': 'forward-send', disabled: true }, t('forward.send'));
  const error = h('p', { class: 'form-error', role: 'alert' });

  function update() {
    send.disabled = chosen.size === 0;
    send.textContent = chosen.size ? tn('forward.sendCount', chosen.size) : t('forward.send');
    for (const box of list.querySelectorAll('input')) box.disabled = !box.checked && chosen.size >= MAX_CHATS;
  }

  const list = h('ul', { class: 'people-list forward-list', 'aria-label': t('forward.chats') },
    store.sortedChats().map((chat) => {
      const box = h('input', { type: 'checkbox', class: 'forward-check', 'data-testid': 'forward-chat', 'data-chat-id': chat.id });
      box.addEventListener('change', () => {
        if (box.checked) chosen.add(chat.id);
        else chosen.delete(chat.id);
        update();
      });
      return h('li', null, h('label', { class: 'person person-button forward-row' },
        avatar(people.chatFace(chat), 'sm'),
        h('span', { class: 'person-text' }, h('span', { class: 'person-name', dir: 'auto' }, people.chatTitle(chat))),
        box));
    }));

  const sheet = openSheet({
    label: t('forward.title'),
    title: t('forward.title'),
    testid: 'forward',
    className: 'list-sheet',
    content: [list, h('div', { class: 'sheet-foot' }, error, send)],
  });

  send.addEventListener('click', async () => {
    error.textContent = '';
    setBusy(send, true);
    try {
      const copies = await actions.forward(message, [...chosen]);
      sheet.close();
      toast(tn('forward.done', copies.length || chosen.size));
    } catch (err) {
      setBusy(send, false);
      error.textContent = errorText(err, { not_found: t('forward.gone') });
    }
  });
  list.querySelector('input')?.focus();
}
