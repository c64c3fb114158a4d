// The header of a secondary panel: a back button and the panel's title.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';

export function panelHeader(title, onBack, ...actions) {
  return h('header', { class: 'bar' },
    h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'back', 'aria-label': t('common.back'), onclick: onBack }, icon('back')),
    h('h1', { class: 'bar-title', tabindex: -1 }, title),
    actions);
}
