// The menu of one message: quick reactions (plus a field for any emoji from the system keyboard),
// then Reply, Copy, Edit, Forward, Pin, Message info and the two deletions, each only when this
// user may do it (message-actions.js decides). Deleting asks once more inside the menu. Arrow keys
// move between the entries; Escape closes.
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import * as actions from '../message-actions.js';
import { errorText } from '../errors.js';
import { openSheet, sheetOpen } from './sheet.js';
import { openForward } from './forward-picker.js';
import { openMessageInfo } from './message-info.js';
import { toast } from './notify.js';
import { reportEntry } from './report-message.js';

// What the server's refusals mean here.
export const ACTION_ERRORS = {
  edit_window_closed: () => t('menu.editClosed'),
  message_deleted: () => t('menu.alreadyDeleted'),
  too_many_reactions: () => t('react.tooMany'),
  too_many_pins: () => t('menu.tooManyPins'),
  forbidden: () => t('menu.forbidden'),
};

export const reportError = (err) => toast(errorText(err, ACTION_ERRORS));

// Reacts (or takes the reaction back) and says so only when it failed.
export function react(message, emoji) {
  actions.toggleReaction(message, emoji).catch((err) => {
    if (err.code === 'validation_failed') toast(t('react.notEmoji'));
    else reportError(err);
  });
}

async function copyText(text, host) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Plain-http LAN installs have no Clipboard API; a selected, hidden text box still copies.
    const area = h('textarea', { class: 'sr-only', readonly: true, 'aria-hidden': 'true' });
    area.value = text;
    host.append(area);
    area.select();
    const done = document.execCommand('copy');
    area.remove();
    return done;
  }
}

const ENTRIES = [
  ['reply', 'reply', 'menu.reply'],
  ['copy', 'copy', 'menu.copy'],
  ['edit', 'edit', 'menu.edit'],
  ['forward', 'forward', 'menu.forward'],
  ['pin', 'pin', 'menu.pin'],
  ['unpin', 'pin', 'menu.unpin'],
  ['info', 'info', 'menu.info'],
  ['hide', 'trash', 'menu.deleteForMe'],
  ['delete', 'trash', 'menu.deleteForEveryone'],
];

function moveFocus(list, event) {
  const items = [...list.querySelectorAll('[role="menuitem"]')];
  const at = items.indexOf(document.activeElement);
  const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
  if (next === undefined || !items.length) return;
  event.preventDefault();
  items[(next + items.length) % items.length].focus();
}

// `handlers.onReply(message)` and `handlers.onEdit(message)` belong to the conversation (they fill
// the composer); everything else is done here.
export function openMessageMenu(message, anchor, handlers) {
  const chat = store.state.chats.get(message.chatId);
  const can = actions.allowed(message, chat);
  if (!can.size || sheetOpen()) return null;

  const sheet = openSheet({ label: t('menu.label'), testid: 'message-menu', className: 'menu-sheet', anchor, content: [] });
  const run = (fn) => async () => {
    try {
      await fn();
    } catch (err) {
      reportError(err);
    }
  };

  function confirmView(question, confirmLabel, testid, fn) {
    const yes = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': testid }, confirmLabel);
    const no = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'confirm-cancel', onclick: sheet.close }, t('menu.cancel'));
    yes.addEventListener('click', async () => {
      setBusy(yes, true);
      try {
        await fn();
        sheet.close();
      } catch (err) {
        setBusy(yes, false);
        reportError(err);
      }
    });
    sheet.body.replaceChildren(h('div', { class: 'menu-confirm' }, h('p', null, question), h('div', { class: 'menu-confirm-buttons' }, no, yes)));
    no.focus();
  }

  const doers = {
    reply: () => handlers.onReply(message),
    edit: () => handlers.onEdit(message),
    copy: run(async () => {
      if (await copyText(message.content, sheet.body)) toast(t('menu.copied'));
    }),
    forward: () => openForward(message),
    pin: run(async () => {
      await actions.setPinned(message, true);
      toast(t('menu.pinned'));
    }),
    unpin: run(() => actions.setPinned(message, false)),
    info: () => openMessageInfo(message),
  };
  const confirmers = {
    hide: () => confirmView(t('menu.confirmDeleteForMe'), t('menu.deleteForMe'), 'confirm-delete', () => actions.hide(message)),
    delete: () => confirmView(t('menu.confirmDeleteForEveryone'), t('menu.deleteForEveryone'), 'confirm-delete', () => actions.deleteForEveryone(message)),
  };

  const list = h('div', { class: 'menu-list', role: 'menu', 'aria-label': t('menu.label'), onkeydown: (event) => moveFocus(list, event) },
    ENTRIES.filter(([action]) => can.has(action)).map(([action, iconName, key]) => h('button', {
      type: 'button',
      role: 'menuitem',
      class: `menu-item${action === 'delete' || action === 'hide' ? ' danger' : ''}`,
      'data-testid': `menu-${action}`,
      onclick: () => {
        if (confirmers[action]) {
          confirmers[action]();
          return;
        }
        sheet.close();
        doers[action]();
      },
    }, icon(iconName), h('span', null, t(key)))));

  const parts = [];
  if (can.has('react')) parts.push(reactionRow(message, sheet));
  list.append(reportEntry(message, sheet) ?? '');
  parts.push(list);
  sheet.body.replaceChildren(...parts);
  list.querySelector('[role="menuitem"]')?.focus();
  return sheet;
}

// The common emoji, a "+" that opens a one-emoji text field for any other, and the reader's
// current reactions shown pressed.
function reactionRow(message, sheet) {
  const pick = (emoji) => {
    sheet.close();
    react(message, emoji);
  };
  const input = h('input', {
    class: 'input emoji-input',
    'data-testid': 'react-input',
    'aria-label': t('react.anyLabel'),
    placeholder: t('react.anyPlaceholder'),
    autocomplete: 'off',
    enterkeyhint: 'send',
  });
  const form = h('form', {
    class: 'emoji-form',
    hidden: true,
    onsubmit: (event) => {
      event.preventDefault();
      const emoji = actions.firstEmoji(input.value);
      if (!emoji) {
        toast(t('react.notEmoji'));
        input.focus();
        return;
      }
      pick(emoji);
    },
  }, input, h('button', { type: 'submit', class: 'btn btn-primary btn-small', 'data-testid': 'react-send' }, t('react.add')));
  const more = h('button', {
    type: 'button',
    class: 'quick-react more',
    'data-testid': 'react-more',
    'aria-label': t('react.more'),
    title: t('react.more'),
    'aria-expanded': 'false',
    onclick: () => {
      form.hidden = false;
      more.setAttribute('aria-expanded', 'true');
      input.focus();
    },
  }, icon('plus'));
  const row = h('div', { class: 'quick-reactions', role: 'group', 'aria-label': t('react.label') },
    actions.QUICK_REACTIONS.map((emoji) => {
      const mine = actions.hasReacted(message, emoji);
      return h('button', {
        type: 'button',
        class: `quick-react${mine ? ' mine' : ''}`,
        'data-testid': 'quick-react',
        'data-emoji': emoji,
        'aria-pressed': String(mine),
        'aria-label': t(mine ? 'react.remove' : 'react.with', { emoji }),
        onclick: () => pick(emoji),
      }, emoji);
    }),
    more);
  return h('div', { class: 'menu-react' }, row, form);
}
