// Start a private chat by phone number: look the person up, then POST /api/chats (which returns the
// existing chat when there already is one).
import { h, setBusy } from '../dom.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import * as store from '../store.js';
import * as router from '../router.js';
import * as people from '../people.js';
import { errorText } from '../errors.js';
import { phoneField } from './phone-field.js';
import { panelHeader } from './panel.js';

export function mountNewChat(container) {
  const field = phoneField({ id: 'new-chat-phone', testid: 'new-chat-phone' });
  const start = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'new-chat-start' }, t('newChat.start'));
  const error = h('p', { class: 'form-error', role: 'alert' });
  // The error names the number: it goes as soon as the number is usable.
  field.input.addEventListener('input', () => {
    if (field.plausible()) error.textContent = '';
  });

  async function submit(event) {
    event.preventDefault();
    if (!field.plausible()) {
      error.textContent = t('newChat.phoneMissing');
      field.input.focus();
      return;
    }
    error.textContent = '';
    setBusy(start, true);
    try {
      const user = await people.lookup(field.value());
      if (user.id === store.state.me?.id) {
        error.textContent = t('newChat.self');
        setBusy(start, false);
        return;
      }
      const chat = await api.post('/api/chats', { type: 'private', participants: [user.id] });
      store.upsertChat(chat, true);
      router.navigate(`/chat/${chat.id}`, { replace: true });
    } catch (err) {
      setBusy(start, false);
      error.textContent = errorText(err, { not_found: t('newChat.notFound'), validation_failed: t('newChat.invalid') });
      field.input.focus();
    }
  }

  const root = h('section', { class: 'panel', 'aria-label': t('newChat.title') },
    panelHeader(t('newChat.title'), () => router.back('/')),
    h('div', { class: 'panel-scroll panel-body' },
      h('form', { class: 'stack', novalidate: true, onsubmit: submit },
        h('p', { class: 'muted' }, t('newChat.intro')),
        h('label', { class: 'label', for: 'new-chat-phone' }, t('newChat.phoneLabel')),
        field.el,
        start,
        error),
      h('button', { type: 'button', class: 'link-btn', onclick: () => router.navigate('/new-group', { replace: true }) }, t('newChat.orGroup'))));
  container.append(root);
  field.input.focus();
  return () => root.remove();
}
