// The strip above everything that says the connection is down, what that means for messages, and
// when the next attempt is. Hidden during short blips so a normal reconnect doesn't flash it.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t, tn } from '../i18n.js';
import * as connection from '../connection.js';
import * as outbox from '../outbox.js';
import * as uploads from '../upload-queue.js';

const GRACE_MS = 2_500;

export function mountBanner() {
  const message = h('span', { class: 'banner-text' });
  const countdown = h('span', { class: 'banner-extra', 'aria-hidden': 'true' });
  const retry = h('button', { type: 'button', class: 'banner-btn', onclick: () => connection.reconnectNow() }, t('banner.retry'));
  const el = h('div', { class: 'banner', role: 'status', 'data-testid': 'connection-banner', hidden: true }, icon('alert'), h('span', null, message, ' ', countdown), retry);

  function set(node, text) {
    // Unchanged text is left alone so screen readers don't repeat it.
    if (node.textContent !== text) node.textContent = text;
  }

  function update() {
    const state = connection.getState();
    const offline = navigator.onLine === false;
    const down = state !== 'online' && state !== 'idle' && (offline || connection.downFor() > GRACE_MS);
    el.hidden = !down;
    if (!down) return;
    let text = offline ? t('banner.offline') : state === 'waiting' ? t('banner.unreachable') : t('banner.connecting');
    const queued = outbox.size() + uploads.size();
    if (queued) text += ` ${tn('banner.queued', queued)}`;
    set(message, text);
    const seconds = Math.ceil(connection.retryIn() / 1000);
    set(countdown, state === 'waiting' && !offline && seconds > 0 ? t('banner.retryIn', { s: seconds }) : '');
    retry.hidden = state !== 'waiting' || offline;
  }

  const timer = setInterval(update, 1000);
  const off = connection.on('state', update);
  window.addEventListener('online', update);
  window.addEventListener('offline', update);
  update();

  return {
    el,
    destroy() {
      clearInterval(timer);
      off();
      window.removeEventListener('online', update);
      window.removeEventListener('offline', update);
      el.remove();
    },
  };
}
