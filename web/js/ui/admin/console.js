// The admin console (/admin): the server's people, the sign-in codes waiting, its settings, the
// reported messages, and the server's state with a backup download, one section at a time under
// a row of tabs. Only admins get here from the settings screen; the API refuses anyone else, and
// the console says so instead of showing empty sections.
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import * as router from '../../router.js';
import * as store from '../../store.js';
import { panelHeader } from '../panel.js';
import { usersSection } from './users.js';
import { codesSection } from './codes.js';
import { settingsSection } from './settings.js';
import { reportsSection } from './reports.js';
import { serverSection } from './server.js';

const SECTIONS = [
  ['users', usersSection],
  ['codes', codesSection],
  ['settings', settingsSection],
  ['reports', reportsSection],
  ['server', serverSection],
];

// The tab last open, so leaving the console and coming back keeps one's place.
let lastTab = 'users';

export const isAdmin = (user) => user?.role === 'admin';

export function mountAdminConsole(container) {
  const body = h('div', { class: 'admin-body', role: 'tabpanel' });
  let current = null;

  const tabs = SECTIONS.map(([key]) => h('button', {
    type: 'button',
    role: 'tab',
    class: 'admin-tab',
    id: `admin-tab-${key}`,
    'data-testid': `admin-tab-${key}`,
    'aria-controls': 'admin-section',
    onclick: () => open(key),
  }, t(`admin.tab.${key}`)));
  const tabList = h('div', { class: 'admin-tabs', role: 'tablist', 'aria-label': t('admin.sections'), onkeydown: moveBetweenTabs }, tabs);
  body.id = 'admin-section';

  function moveBetweenTabs(event) {
    const at = tabs.indexOf(document.activeElement);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (at < 0 || !step) return;
    event.preventDefault();
    const next = tabs[(at + step + tabs.length) % tabs.length];
    next.focus();
    next.click();
  }

  function open(key) {
    lastTab = key;
    current?.destroy?.();
    SECTIONS.forEach(([name], i) => {
      tabs[i].setAttribute('aria-selected', String(name === key));
      tabs[i].tabIndex = name === key ? 0 : -1;
    });
    body.setAttribute('aria-labelledby', `admin-tab-${key}`);
    const [, make] = SECTIONS.find(([name]) => name === key);
    current = make();
    body.replaceChildren(current.el);
  }

  const title = t('admin.title');
  const root = h('section', { class: 'panel admin', 'aria-label': title, 'data-testid': 'admin-console' },
    panelHeader(title, () => router.back('/profile')),
    tabList,
    h('div', { class: 'panel-scroll admin-scroll' }, body));
  container.append(root);

  // The stored profile may predate a promotion or demotion; the fresh one follows at start-up.
  function showAllowed() {
    const allowed = isAdmin(store.state.me);
    tabList.hidden = !allowed;
    if (allowed && !current) open(SECTIONS.some(([key]) => key === lastTab) ? lastTab : 'users');
    if (!allowed) {
      current?.destroy?.();
      current = null;
      body.replaceChildren(h('p', { class: 'form-error admin-refused', role: 'alert' }, t('admin.notAdmin')));
    }
  }
  const offUser = store.on('user', (userId) => {
    if (userId === store.state.me?.id && isAdmin(store.state.me) !== Boolean(current)) showAllowed();
  });
  showAllowed();
  root.querySelector('h1')?.focus({ preventScroll: true });

  return () => {
    offUser();
    current?.destroy?.();
    root.remove();
  };
}
