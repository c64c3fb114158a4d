// A code sent to this account's number while this device is signed in (the socket's
// `login_code`): shown at the top of the screen with the device and address that asked and a
// countdown, so a person signs in a new device without SMS — and sees it if someone else tries.
// The newest code replaces an older one; it stays until dismissed, marked once it has expired.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as connection from '../connection.js';
import { deviceName } from '../user-agent.js';
import { countdown, spacedCode } from './admin/common.js';
import { announce } from './notify.js';

export function watchLoginCodes() {
  let shown = null;

  function dismiss() {
    if (!shown) return;
    clearInterval(shown.ticker);
    shown.el.remove();
    shown = null;
  }

  function show(event) {
    if (!event?.code) return;
    dismiss();
    const expiry = h('p', { class: 'login-code-expiry', 'data-testid': 'login-code-expiry' });
    const close = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'login-code-dismiss', onclick: dismiss }, t('loginCode.dismiss'));
    const titleId = 'login-code-title';
    const el = h('section', { class: 'login-code', role: 'alertdialog', 'aria-labelledby': titleId, 'data-testid': 'login-code' },
      h('div', { class: 'login-code-head' },
        icon('device', 'icon login-code-icon'),
        h('h2', { id: titleId, class: 'login-code-title' }, t('loginCode.title')),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('loginCode.dismiss'), onclick: dismiss }, icon('close'))),
      h('p', { class: 'login-code-text' }, t('loginCode.text')),
      h('p', { class: 'code-digits login-code-digits', 'data-testid': 'login-code-digits', 'data-code': event.code }, spacedCode(event.code)),
      h('p', { class: 'login-code-device muted' }, t('loginCode.device', { device: deviceName(event.userAgent), ip: event.ip || t('loginCode.unknownAddress') })),
      expiry,
      h('p', { class: 'login-code-warning' }, t('loginCode.notYou')),
      h('div', { class: 'button-row' }, close));
    const tick = () => {
      const left = countdown(event.expiresAt);
      expiry.textContent = left ? t('loginCode.expiresIn', { time: left }) : t('loginCode.expired');
      el.classList.toggle('expired', !left);
    };
    tick();
    shown = { el, ticker: setInterval(tick, 1_000) };
    document.body.append(el);
    announce(`${t('loginCode.title')} ${t('loginCode.text')} ${spacedCode(event.code)}`);
  }

  const onKey = (event) => {
    if (event.key === 'Escape' && shown?.el.contains(document.activeElement)) dismiss();
  };
  const off = connection.on('login_code', show);
  document.addEventListener('keydown', onKey);
  return () => {
    off();
    document.removeEventListener('keydown', onKey);
    dismiss();
  };
}
