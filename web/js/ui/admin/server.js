// Server: version, uptime, disk (the data directory's size and the free space), how many
// accounts, chats and messages, and the connections open now; and the backup download, the
// same archive `clavox backup` writes, fetched with the admin's token.
import { h, setBusy } from '../../dom.js';
import { t, locale } from '../../i18n.js';
import * as api from '../../api.js';
import { fileSize } from '../../format.js';
import { download } from '../../download.js';
import { toast } from '../notify.js';
import { adminError, spokenDuration } from './common.js';

const count = (n) => new Intl.NumberFormat(locale()).format(n ?? 0);

export function serverSection() {
  const facts = h('dl', { class: 'admin-facts', 'data-testid': 'admin-server' });
  const status = h('p', { class: 'muted', role: 'status' });
  const refreshButton = h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: load }, t('admin.server.refresh'));
  const backupButton = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'admin-backup', onclick: backup }, t('admin.backup.download'));
  const backupError = h('p', { class: 'form-error', role: 'alert' });

  async function load() {
    status.textContent = t('common.loading');
    setBusy(refreshButton, true);
    try {
      const server = await api.get('/api/admin/server');
      const rows = [
        ['version', server.version],
        ['uptime', spokenDuration(server.uptimeSeconds)],
        ['dataDir', fileSize(server.dataDirBytes)],
        ['freeDisk', fileSize(server.freeDiskBytes)],
        ['users', count(server.users)],
        ['chats', count(server.chats)],
        ['messages', count(server.messages)],
        ['sockets', count(server.socketsOnline)],
      ];
      facts.replaceChildren(...rows.map(([key, value]) => h('div', { class: 'admin-fact', 'data-fact': key },
        h('dt', null, t(`admin.server.${key}`)), h('dd', null, value))));
      status.textContent = '';
    } catch (err) {
      status.textContent = adminError(err);
    } finally {
      setBusy(refreshButton, false);
    }
  }

  async function backup() {
    backupError.textContent = '';
    setBusy(backupButton, true);
    try {
      await download('POST', '/api/admin/backup', 'clavox-backup.tar');
      toast(t('admin.backup.done'));
    } catch (err) {
      backupError.textContent = adminError(err);
    } finally {
      setBusy(backupButton, false);
    }
  }

  load();
  const el = h('div', { class: 'admin-section stack' },
    facts,
    status,
    h('div', { class: 'button-row' }, refreshButton),
    h('div', { class: 'admin-card stack' },
      h('h2', { class: 'section-title' }, t('admin.backup.title')),
      h('p', { class: 'help' }, t('admin.backup.help')),
      backupButton,
      backupError));
  return { el };
}
