// The frame of the sign-in screens: brand, a centred card, and a language picker underneath.
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { languageSelect } from './language-select.js';

const LOGO = new URL('../../icon.svg', import.meta.url).href;

export function authLayout(...content) {
  return h('main', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand' }, h('img', { src: LOGO, alt: '', width: 40, height: 40 }), h('span', null, 'Clavox')),
      content),
    h('div', { class: 'auth-foot' },
      h('label', { class: 'sr-only', for: 'auth-lang' }, t('settings.language')),
      languageSelect('auth-lang')));
}
