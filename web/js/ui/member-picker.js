// Adding people to a group: by phone number (looked up on the server) or from quick picks of people
// already chatted with. `onAdd(user)` does the adding and may throw an ApiError.
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import * as people from '../people.js';
import { errorText } from '../errors.js';
import { phoneField } from './phone-field.js';
import { avatar } from './avatar.js';

const MAX_SUGGESTIONS = 8;

// `heading`: the level of the suggestions' heading, one below the section it is in.
export function memberPicker({ id, phoneTestid, addTestid, excluded, onAdd, errors = {}, heading = 'h3' }) {
  const field = phoneField({ id, testid: phoneTestid });
  const add = h('button', { type: 'submit', class: 'btn btn-secondary', 'data-testid': addTestid }, t('members.add'));
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'member-error' });
  const suggestions = h('ul', { class: 'people-list', 'aria-label': t('members.suggestions') });
  field.input.addEventListener('input', () => {
    if (field.plausible()) error.textContent = '';
  });
  const suggestionsBlock = h('div', { hidden: true }, h(heading, { class: 'section-title' }, t('members.suggestions')), suggestions);

  async function addUser(user) {
    if (user.id === store.state.me?.id || excluded().has(user.id)) {
      error.textContent = t('members.already', { name: people.nameOf(user.id) });
      return false;
    }
    await onAdd(user);
    refresh();
    return true;
  }

  async function submit(event) {
    event.preventDefault();
    if (!field.plausible()) {
      error.textContent = t('members.phoneMissing');
      field.input.focus();
      return;
    }
    error.textContent = '';
    setBusy(add, true);
    try {
      if (await addUser(await people.lookup(field.value()))) field.clear();
    } catch (err) {
      error.textContent = errorText(err, { not_found: t('members.notFound'), validation_failed: t('members.invalid'), ...errors });
    } finally {
      setBusy(add, false);
      field.input.focus();
    }
  }

  function refresh() {
    const skip = excluded();
    const picks = people.contacts().filter((u) => !skip.has(u.id)).slice(0, MAX_SUGGESTIONS);
    suggestions.replaceChildren(...picks.map((u) => h('li', null,
      h('button', {
        type: 'button',
        class: 'person person-button',
        onclick: async () => {
          error.textContent = '';
          try {
            await addUser(u);
          } catch (err) {
            error.textContent = errorText(err, errors);
          }
        },
      },
      h('span', { class: 'sr-only' }, t('members.add'), ' '),
      avatar(people.userFace(u), 'sm'),
      h('span', { class: 'person-text' }, h('span', { class: 'person-name', dir: 'auto' }, people.nameOf(u.id)), h('span', { class: 'person-sub' }, u.phoneNumber)),
      icon('plus')))));
    suggestionsBlock.hidden = picks.length === 0;
  }

  const el = h('div', { class: 'stack' },
    h('form', { class: 'stack', novalidate: true, onsubmit: submit },
      h('label', { class: 'label', for: id }, t('members.phoneLabel')),
      h('div', { class: 'inline-form' }, field.el, add),
      error),
    suggestionsBlock);
  refresh();
  return { el, refresh };
}
