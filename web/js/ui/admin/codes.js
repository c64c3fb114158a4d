// Codes waiting: every sign-in code sent and not yet used, with its number, the code in large
// digits, a countdown to its expiry and who asked for it (address and device), so the admin of a
// LAN server reads a code to someone instead of searching the server's log. Fetched again every
// few seconds while the section is open; the countdowns tick every second in between.
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import * as api from '../../api.js';
import { deviceName } from '../../user-agent.js';
import { adminError, countdown, spacedCode } from './common.js';

const REFRESH_MS = 3_000;

export function codesSection() {
  const list = h('ul', { class: 'admin-list', 'data-testid': 'admin-codes', 'aria-label': t('admin.tab.codes') });
  const status = h('p', { class: 'muted', role: 'status' });
  let codes = [];
  let stopped = false;
  let refreshTimer = 0;

  function codeItem(code) {
    const left = countdown(code.expiresAt);
    return h('li', { class: 'admin-item admin-code', 'data-testid': 'admin-code', 'data-phone': code.phoneNumber },
      h('div', { class: 'admin-code-head' },
        h('span', { class: 'person-name' }, code.phoneNumber),
        h('span', { class: `admin-countdown${left ? '' : ' expired'}`, 'data-testid': 'admin-code-expiry' },
          left ? t('admin.codes.expiresIn', { time: left }) : t('admin.codes.expired'))),
      h('p', { class: 'code-digits', 'data-testid': 'admin-code-digits', 'data-code': code.code }, spacedCode(code.code)),
      h('p', { class: 'admin-user-meta muted' },
        t('admin.codes.from', { ip: code.ip || t('admin.codes.unknownAddress') }), ' · ', deviceName(code.userAgent)));
  }

  function render() {
    list.replaceChildren(...codes.map(codeItem));
    if (!status.dataset.error) status.textContent = codes.length ? '' : t('admin.codes.none');
  }

  async function refresh() {
    try {
      codes = (await api.get('/api/admin/codes')).codes;
      delete status.dataset.error;
    } catch (err) {
      status.dataset.error = 'true';
      status.textContent = adminError(err);
    }
    if (stopped) return;
    render();
    refreshTimer = setTimeout(refresh, REFRESH_MS);
  }

  const ticker = setInterval(render, 1_000);
  status.textContent = t('common.loading');
  refresh();
  const el = h('div', { class: 'admin-section stack' }, h('p', { class: 'help' }, t('admin.codes.help')), status, list);
  return {
    el,
    destroy: () => {
      stopped = true;
      clearTimeout(refreshTimer);
      clearInterval(ticker);
    },
  };
}
