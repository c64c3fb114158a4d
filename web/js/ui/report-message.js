// Reporting a message to the server's admins from its menu: an optional reason (at most 500
// characters), then POST /api/chats/:chatId/messages/:seq/report. Offered for other people's
// messages that are still there.
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import * as store from '../store.js';
import { codePoints } from '../format.js';
import { errorText } from '../errors.js';
import { toast } from './notify.js';

const MAX_REASON = 500;

export const mayReport = (message) => message.seq != null && !message.deletedAt && !message.hidden
  && message.senderId !== store.state.me?.id;

// The menu's "Report" entry; choosing it turns the open `sheet` into the report form.
export function reportEntry(message, sheet) {
  if (!mayReport(message)) return null;
  return h('button', {
    type: 'button',
    role: 'menuitem',
    class: 'menu-item danger',
    'data-testid': 'menu-report',
    onclick: () => showForm(message, sheet),
  }, icon('alert'), h('span', null, t('report.menu')));
}

function showForm(message, sheet) {
  const reason = h('textarea', { id: 'report-reason', class: 'input report-reason', rows: 3, dir: 'auto', 'data-testid': 'report-reason' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const send = h('button', { type: 'submit', class: 'btn btn-danger', 'data-testid': 'report-send' }, t('report.send'));
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary', onclick: sheet.close }, t('menu.cancel'));
  const counter = h('span', { class: 'help report-count', 'aria-hidden': 'true' }, `0 / ${MAX_REASON}`);
  reason.addEventListener('input', () => {
    const length = codePoints(reason.value);
    counter.textContent = `${length} / ${MAX_REASON}`;
    counter.classList.toggle('over', length > MAX_REASON);
    if (length <= MAX_REASON && error.textContent === t('report.tooLong')) error.textContent = '';
  });

  async function submit(event) {
    event.preventDefault();
    const text = reason.value.trim();
    if (codePoints(text) > MAX_REASON) {
      error.textContent = t('report.tooLong');
      reason.focus();
      return;
    }
    error.textContent = '';
    setBusy(send, true);
    try {
      const path = `/api/chats/${encodeURIComponent(message.chatId)}/messages/${message.seq}/report`;
      await api.post(path, text ? { reason: text } : {});
      sheet.close();
      toast(t('report.sent'));
    } catch (err) {
      setBusy(send, false);
      error.textContent = errorText(err, { validation_failed: t('report.tooLong') });
    }
  }

  sheet.body.replaceChildren(h('form', { class: 'stack report-form', novalidate: true, onsubmit: submit, 'data-testid': 'report-form' },
    h('h2', { class: 'sheet-title' }, t('report.title')),
    h('p', { class: 'help' }, t('report.help')),
    h('label', { class: 'label', for: 'report-reason' }, t('report.reason')),
    reason,
    counter,
    error,
    h('div', { class: 'menu-confirm-buttons' }, cancel, send)));
  reason.focus();
}
