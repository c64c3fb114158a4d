// Lasting notices along the bottom: "a new version is ready" with Reload, and on iPhone and iPad
// the one line that says where "Add to Home Screen" is, shown until dismissed.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as worker from '../worker.js';
import * as install from '../install.js';
import { notice } from './notify.js';

// `text`, an optional action button, and a close button; `onClose` hears either.
function noticeBar({ testid, text, action = null, onAction = null, onClose = null }) {
  let remove = null;
  const close = () => {
    remove?.();
    onClose?.();
  };
  const el = h('div', { class: 'toast notice', 'data-testid': testid },
    h('span', { class: 'notice-text' }, text),
    action ? h('button', { type: 'button', class: 'banner-btn', 'data-testid': `${testid}-action`, onclick: () => { close(); onAction(); } }, action) : null,
    h('button', { type: 'button', class: 'notice-close', 'data-testid': `${testid}-close`, 'aria-label': t('notice.dismiss'), title: t('notice.dismiss'), onclick: close }, icon('close')));
  remove = notice(el);
  return close;
}

// Once per page: a dismissed prompt comes back only with the next release's worker.
export function watchForUpdates() {
  let shown = false;
  const show = () => {
    if (shown) return;
    shown = true;
    noticeBar({ testid: 'update-ready', text: t('update.ready'), action: t('update.reload'), onAction: worker.applyUpdate });
  };
  worker.onUpdate(show);
  if (worker.updateWaiting()) show();
}

// Returns a function that takes the hint away (leaving the screen is not dismissing it).
export function offerHomeScreenHint() {
  if (!install.wantsHomeScreenHint()) return () => {};
  let leaving = false;
  const close = noticeBar({
    testid: 'home-screen-hint',
    text: t('install.homeScreen'),
    onClose: () => {
      if (!leaving) install.dismissHomeScreenHint();
    },
  });
  return () => {
    leaving = true;
    close();
  };
}
