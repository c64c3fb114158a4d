// The offer at the top of the chat list: "Get notified of new messages? Turn on". It shows once the
// person has opened a chat (not on a first visit) until they turn notifications on or dismiss it.
// On plain http:// it explains that notifications need the secure address instead.
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as notifications from '../notifications.js';
import { errorText } from '../errors.js';
import { toast } from './notify.js';
import { explainSecureAddress } from './secure-address.js';

const ADVICE_MS = 10_000;

export function explainPushNeedsHttps(anchor) {
  explainSecureAddress({
    title: t('push.secureTitle'),
    text: t('push.secureText'),
    action: t('voice.secureOpen'),
    testid: 'push-needs-https',
    linkTestid: 'push-join',
    anchor,
  });
}

// Asks the browser, then says how it went; `anchor` is the button that was pressed.
export async function turnOn(anchor) {
  if (notifications.needsSecureAddress()) {
    explainPushNeedsHttps(anchor);
    return;
  }
  setBusy(anchor, true);
  try {
    const permission = await notifications.enable();
    if (permission === 'denied') toast(t('push.blocked'), ADVICE_MS);
    else if (permission === 'granted' && notifications.status() === 'on') toast(t('push.turnedOn'));
    else if (permission === 'granted') toast(errorText(notifications.lastFailure(), { no_worker: t('push.noWorker') }), ADVICE_MS);
  } finally {
    if (anchor.isConnected) setBusy(anchor, false);
  }
}

export function mountPushOffer() {
  const enable = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'push-offer-enable', onclick: () => turnOn(enable) }, t('push.turnOn'));
  const close = h('button', {
    type: 'button',
    class: 'icon-btn offer-close',
    'data-testid': 'push-offer-close',
    'aria-label': t('push.notNow'),
    title: t('push.notNow'),
    onclick: () => notifications.dismissOffer(),
  }, icon('close'));
  const el = h('div', { class: 'offer', role: 'region', 'aria-label': t('push.title'), 'data-testid': 'push-offer', hidden: true },
    h('span', { class: 'offer-icon' }, icon('bell')),
    h('p', { class: 'offer-text' }, t('push.offer')),
    enable,
    close);

  const update = () => {
    el.hidden = !notifications.wantsOffer();
  };
  const off = notifications.onChange(update);
  update();
  return {
    el,
    destroy() {
      off();
      el.remove();
    },
  };
}
