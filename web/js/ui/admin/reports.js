// Reports: messages people reported, oldest first, each with who reported it and why, the copy
// of the message taken when it was reported, and the chat it is in; dismissing takes it off the
// queue. Paged by `next`.
import { h, setBusy } from '../../dom.js';
import { t } from '../../i18n.js';
import * as api from '../../api.js';
import * as people from '../../people.js';
import * as store from '../../store.js';
import { fullDateTime, summary } from '../../format.js';
import { toast } from '../notify.js';
import { adminError } from './common.js';

export function reportsSection() {
  const list = h('ul', { class: 'admin-list', 'data-testid': 'admin-reports', 'aria-label': t('admin.tab.reports') });
  const status = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', class: 'btn btn-secondary btn-block', hidden: true, onclick: () => load(false) }, t('admin.reports.more'));
  let next = null;

  function reportItem(report) {
    const error = h('p', { class: 'form-error', role: 'alert' });
    const dismiss = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'admin-report-dismiss' }, t('admin.reports.dismiss'));
    const reporter = report.reporter ? (report.reporter.name || report.reporter.phoneNumber) : t('admin.reports.goneReporter');
    const chat = report.chat.type === 'group' && report.chat.name ? report.chat.name : t('admin.reports.privateChat');
    const message = report.message;
    const item = h('li', { class: 'admin-item admin-report', 'data-testid': 'admin-report', 'data-report-id': report.id },
      h('p', { class: 'person-name', dir: 'auto' }, t('admin.reports.by', { name: reporter })),
      h('p', { class: 'admin-reason', dir: 'auto', 'data-testid': 'admin-report-reason' }, report.reason || t('admin.reports.noReason')),
      h('blockquote', { class: 'admin-quote', 'data-testid': 'admin-report-message' },
        h('p', { class: 'admin-quote-meta muted', 'data-sender': message.senderId, 'data-when': fullDateTime(message.createdAt) }),
        h('p', { class: 'admin-quote-text', dir: 'auto' }, message.content || summary(message))),
      h('p', { class: 'muted', dir: 'auto' }, t('admin.reports.in', { chat })),
      h('div', { class: 'admin-actions' }, dismiss),
      error);
    dismiss.addEventListener('click', async () => {
      error.textContent = '';
      setBusy(dismiss, true);
      try {
        await api.del(`/api/admin/reports/${report.id}`);
        item.remove();
        toast(t('admin.reports.dismissed'));
        if (!list.children.length) status.textContent = t('admin.reports.none');
      } catch (err) {
        setBusy(dismiss, false);
        error.textContent = adminError(err);
      }
    });
    nameSender(item.querySelector('[data-sender]'));
    return item;
  }

  // The sender's name, again once their profile has been fetched.
  function nameSender(el) {
    el.textContent = t('admin.reports.from', { name: people.nameOf(el.dataset.sender), when: el.dataset.when });
  }

  async function load(fresh) {
    const query = !fresh && next ? `?cursor=${encodeURIComponent(next)}` : '';
    if (fresh) status.textContent = t('common.loading');
    setBusy(more, true);
    try {
      const page = await api.get(`/api/admin/reports${query}`);
      people.prefetch(page.reports.map((report) => report.message.senderId));
      if (fresh) list.replaceChildren();
      list.append(...page.reports.map(reportItem));
      next = page.next;
      status.textContent = list.children.length ? '' : t('admin.reports.none');
    } catch (err) {
      status.textContent = adminError(err);
    } finally {
      setBusy(more, false);
      more.hidden = !next;
    }
  }

  const offUser = store.on('user', (userId) => {
    for (const el of list.querySelectorAll('[data-sender]')) if (el.dataset.sender === userId) nameSender(el);
  });
  load(true);
  return { el: h('div', { class: 'admin-section stack' }, status, list, more), destroy: offUser };
}
