// The settings screen's account part: the way into the admin console (admins only), the people
// this user blocked, and downloading all of one's data (GET /api/users/profile/export, a tar).
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as router from '../router.js';
import * as store from '../store.js';
import { errorText } from '../errors.js';
import { download } from '../download.js';
import { blockedList } from './block.js';
import { isAdmin } from './admin/console.js';
import { toast } from './notify.js';

export function accountSettings() {
  const adminEntry = h('div', { class: 'stack', hidden: true },
    h('button', { type: 'button', class: 'btn btn-secondary btn-block', 'data-testid': 'open-admin', onclick: () => router.navigate('/admin') },
      icon('user'), t('admin.open')),
    h('p', { class: 'help' }, t('admin.openHelp')));
  const showAdmin = () => {
    adminEntry.hidden = !isAdmin(store.state.me);
  };

  const exportButton = h('button', { type: 'button', class: 'btn btn-secondary btn-block', 'data-testid': 'export-data' }, icon('download'), t('export.download'));
  const exportStatus = h('p', { class: 'form-status', role: 'status' });
  exportButton.addEventListener('click', async () => {
    exportStatus.textContent = t('export.preparing');
    setBusy(exportButton, true);
    try {
      await download('GET', '/api/users/profile/export', 'clavox-export.tar');
      exportStatus.textContent = '';
      toast(t('export.done'));
    } catch (err) {
      exportStatus.textContent = errorText(err);
    } finally {
      setBusy(exportButton, false);
    }
  });

  const blocked = blockedList();
  const el = h('div', { class: 'stack' },
    adminEntry,
    blocked.el,
    h('div', { class: 'stack' },
      h('h2', { class: 'section-title' }, t('export.title')),
      h('p', { class: 'help' }, t('export.help')),
      exportButton,
      exportStatus));
  showAdmin();
  const offUser = store.on('user', (userId) => {
    if (userId === store.state.me?.id) showAdmin();
  });
  return { el, destroy: offUser };
}
