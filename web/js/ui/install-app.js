// "Install app": a button in the chat list's bar and a section in the profile, shown while the
// browser offers to install (Chromium); on iPhone and iPad the section says where Safari's
// "Add to Home Screen" is instead. Nothing shows once the app runs installed.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as install from '../install.js';

// Keeps `el` shown only while the browser offers to install; returns what stops that.
function whileInstallable(el) {
  const update = () => {
    el.hidden = !install.canPrompt();
  };
  update();
  return install.onChange(update);
}

// The bar's icon button, and the function that stops it following the offer.
export function installButton() {
  const el = h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'install-app', 'aria-label': t('install.action'), title: t('install.action'), onclick: () => install.prompt() }, icon('download'));
  return { el, destroy: whileInstallable(el) };
}

// The profile's section, or null where there is nothing to say.
export function installSection() {
  if (install.isInstalled()) return null;
  if (install.isIosSafari()) {
    return { el: h('div', { class: 'stack' }, h('h2', { class: 'section-title' }, t('install.title')), h('p', { class: 'help' }, t('install.homeScreen'))), destroy: () => {} };
  }
  const el = h('div', { class: 'stack' },
    h('h2', { class: 'section-title' }, t('install.title')),
    h('p', { class: 'help' }, t('install.help')),
    h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'install-app-profile', onclick: () => install.prompt() }, icon('download'), t('install.action')));
  return { el, destroy: whileInstallable(el) };
}
