// @mentions in a group's composer. Typing "@" and the start of a name lists the matching members
// above the text box (arrow keys move, Enter or Tab takes one, Escape closes; a tap works too).
// The chosen member's "@Name" goes into the text, and the members whose "@Name" is still in the
// text when it is sent become the message's `mentions`.
import { h } from '../dom.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import * as people from '../people.js';
import { avatar } from './avatar.js';

const MAX_OPTIONS = 8;
const TRIGGER = /(^|\s)@([^\s@]{0,40})$/u;

export function mentionSuggester(textarea, chatId, onChange) {
  const listId = `mentions-${chatId}`;
  const list = h('ul', { class: 'mention-list', id: listId, role: 'listbox', 'data-testid': 'mention-list', 'aria-label': t('mention.label'), hidden: true });
  const chosen = new Map(); // userId → the name put in the text
  let options = [];
  let active = 0;
  let range = null;

  textarea.setAttribute('aria-autocomplete', 'list');
  textarea.setAttribute('aria-controls', listId);

  // The "@query" just before the caret, in a group.
  function find() {
    if (store.state.chats.get(chatId)?.type !== 'group' || textarea.selectionStart !== textarea.selectionEnd) return null;
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = TRIGGER.exec(before);
    if (!match) return null;
    return { start: before.length - match[2].length - 1, end: before.length, query: match[2].toLocaleLowerCase() };
  }

  function matches(name, query) {
    const lower = name.toLocaleLowerCase();
    return !query || lower.startsWith(query) || lower.split(/\s+/).some((word) => word.startsWith(query));
  }

  function close() {
    range = null;
    options = [];
    list.hidden = true;
    list.replaceChildren();
    textarea.removeAttribute('aria-activedescendant');
  }

  function draw() {
    list.replaceChildren(...options.map((option, i) => {
      const u = people.user(option.id);
      return h('li', {
        id: `${listId}-${i}`,
        role: 'option',
        class: `mention-option${i === active ? ' active' : ''}`,
        'data-testid': 'mention-option',
        'aria-selected': String(i === active),
        // Keep the focus (and a phone's keyboard) in the text box.
        onpointerdown: (event) => event.preventDefault(),
        onclick: () => choose(option),
      }, avatar({ id: option.id, name: u?.name, url: u?.avatar }, 'xs'), h('span', { class: 'mention-name', dir: 'auto' }, option.name));
    }));
    list.hidden = false;
    textarea.setAttribute('aria-activedescendant', `${listId}-${active}`);
    list.children[active]?.scrollIntoView({ block: 'nearest' });
  }

  function update() {
    range = find();
    if (!range) {
      close();
      return;
    }
    const me = store.state.me?.id;
    const participants = store.state.chats.get(chatId).participants.filter((id) => id !== me);
    options = participants
      .map((id) => ({ id, name: people.nameOf(id) }))
      .filter((option) => matches(option.name, range.query))
      .sort((a, b) => a.name.localeCompare(b.name))
      .slice(0, MAX_OPTIONS);
    if (!options.length) {
      close();
      return;
    }
    active = Math.min(active, options.length - 1);
    draw();
  }

  function choose(option) {
    if (!range) return;
    const text = `@${option.name} `;
    const value = textarea.value;
    textarea.value = value.slice(0, range.start) + text + value.slice(range.end);
    const caret = range.start + text.length;
    textarea.setSelectionRange(caret, caret);
    chosen.set(option.id, option.name);
    close();
    textarea.focus();
    onChange();
  }

  // Handles the list's keys; true when the key was the list's.
  function keydown(event) {
    if (list.hidden || !options.length) return false;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      active = (active + (event.key === 'ArrowDown' ? 1 : -1) + options.length) % options.length;
      draw();
    } else if ((event.key === 'Enter' && !event.shiftKey) || event.key === 'Tab') {
      choose(options[active]);
    } else if (event.key === 'Escape') {
      close();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  // The ids to send with `content`, and a fresh start for the next message.
  function take(content) {
    const ids = [...chosen].filter(([, name]) => content.includes(`@${name}`)).map(([id]) => id);
    chosen.clear();
    close();
    return ids;
  }

  return { el: list, update, keydown, take, close, open: () => !list.hidden };
}
