// Create a group: a name plus at least one other member, then POST /api/chats {type: "group"}.
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t, tn } from '../i18n.js';
import * as api from '../api.js';
import * as store from '../store.js';
import * as router from '../router.js';
import * as people from '../people.js';
import { codePoints } from '../format.js';
import { errorText } from '../errors.js';
import { panelHeader } from './panel.js';
import { memberPicker } from './member-picker.js';
import { avatar } from './avatar.js';

export function mountNewGroup(container) {
  const members = new Map(); // userId → User, in the order added
  const name = h('input', { id: 'group-name', class: 'input', dir: 'auto', maxlength: 64, autocomplete: 'off', 'data-testid': 'group-name' });
  const chosen = h('ul', { class: 'people-list', 'aria-label': t('newGroup.members') });
  const count = h('h2', { class: 'section-title', 'aria-live': 'polite' });
  const create = h('button', { type: 'button', class: 'btn btn-primary btn-block', 'data-testid': 'group-create' }, t('newGroup.create'));
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'group-error' });
  let errorFor = null; // 'name' | 'members' | null: what the error shown is about

  function showError(text, about = null) {
    error.textContent = text;
    errorFor = about;
  }

  // An error goes as soon as what it names is put right.
  function clearFixed() {
    const nameOk = Boolean(name.value.trim()) && codePoints(name.value.trim()) <= 64;
    if ((errorFor === 'name' && nameOk) || (errorFor === 'members' && members.size)) showError('');
  }

  const picker = memberPicker({
    id: 'group-member-phone',
    phoneTestid: 'group-member-phone',
    addTestid: 'group-member-add',
    heading: 'h2',
    excluded: () => new Set(members.keys()),
    onAdd: async (user) => {
      members.set(user.id, user);
      renderMembers();
      clearFixed();
    },
  });

  function renderMembers() {
    count.textContent = tn('newGroup.count', members.size);
    chosen.replaceChildren(...[...members.values()].map((u) => h('li', { class: 'person' },
      avatar(people.userFace(u), 'sm'),
      h('span', { class: 'person-text' }, h('span', { class: 'person-name', dir: 'auto' }, people.nameOf(u.id)), h('span', { class: 'person-sub' }, u.phoneNumber)),
      h('button', {
        type: 'button',
        class: 'icon-btn',
        'aria-label': t('members.remove', { name: people.nameOf(u.id) }),
        onclick: () => {
          members.delete(u.id);
          renderMembers();
          picker.refresh();
        },
      }, icon('close')))));
  }

  create.addEventListener('click', async () => {
    const groupName = name.value.trim();
    if (!groupName || codePoints(groupName) > 64) {
      showError(t('newGroup.nameMissing'), 'name');
      name.focus();
      return;
    }
    if (!members.size) {
      showError(t('newGroup.membersMissing'), 'members');
      return;
    }
    showError('');
    setBusy(create, true);
    try {
      const chat = await api.post('/api/chats', { type: 'group', name: groupName, participants: [...members.keys()] });
      store.upsertChat(chat, true);
      router.navigate(`/chat/${chat.id}`, { replace: true });
    } catch (err) {
      setBusy(create, false);
      showError(errorText(err, { unknown_user: t('newGroup.unknownUser'), validation_failed: t('newGroup.invalid') }));
    }
  });

  name.addEventListener('input', clearFixed);

  // Enter in the name moves on to adding members rather than submitting anything.
  name.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    picker.el.querySelector('input')?.focus();
  });

  const root = h('section', { class: 'panel', 'aria-label': t('newGroup.title') },
    panelHeader(t('newGroup.title'), () => router.back('/')),
    h('div', { class: 'panel-scroll panel-body' },
      h('div', { class: 'stack' },
        h('label', { class: 'label', for: 'group-name' }, t('newGroup.nameLabel')),
        name),
      picker.el,
      count,
      chosen,
      create,
      error));
  container.append(root);
  renderMembers();
  name.focus();
  return () => root.remove();
}
