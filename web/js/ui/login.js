// Sign-in: phone number → POST /api/auth/send-otp → six-digit code → POST /api/auth/verify-otp.
// Progress lives in `draft` at module level, so switching language mid-way keeps the step.
import { h, setBusy } from '../dom.js';
import { t, tn } from '../i18n.js';
import * as api from '../api.js';
import * as session from '../session.js';
import { errorText } from '../errors.js';
import { phoneField } from './phone-field.js';
import { authLayout } from './auth-layout.js';

// blockedBy: 'number' (a code went to it a moment ago) or 'network' (too many sign-ins from this
// address; any number is refused until then).
const draft = { step: 'phone', typed: '', phone: '', resendAt: 0, blockedUntil: 0, blockedPhone: '', blockedBy: '' };

const secondsLeft = (until) => Math.max(0, Math.ceil((until - Date.now()) / 1000));

// Numbers this browser had a code sent to, with when that code expires and when another may be
// asked for: only for those is "I already have a code" true when the server refuses to send
// another, and only before `resendAt` can the refusal be the number's own cooldown.
const SENT_KEY = 'clavox.codesSent';

function codesSent() {
  try {
    const all = JSON.parse(localStorage.getItem(SENT_KEY) || '{}');
    return Object.fromEntries(Object.entries(all).filter(([, sent]) => sent?.until > Date.now()));
  } catch {
    return {};
  }
}

function rememberCodeSent(phone, answer) {
  const sent = { until: Date.now() + (answer?.expiresIn ?? 300) * 1000, resendAt: Date.now() + (answer?.retryAfter ?? 30) * 1000 };
  try {
    localStorage.setItem(SENT_KEY, JSON.stringify({ ...codesSent(), [phone]: sent }));
  } catch {
    // Without storage the offer to enter a code is simply not made after a refusal.
  }
}

// `invite`: the code of the group invite link being followed, sent with send-otp so a new number
// may sign up under invitation-only registration; `header`: what to show above the form.
export function mountLogin(root, { invite = null, header = null } = {}) {
  const notice = session.takeSignOutReason() === 'expired' ? t('login.signedOut') : '';
  let tick = () => {};
  const ticker = setInterval(() => tick(), 1000);
  let view = null;

  function render() {
    const next = authLayout(header, draft.step === 'code' ? codeStep() : phoneStep());
    if (view) view.replaceWith(next);
    else root.append(next);
    view = next;
    tick();
    view.querySelector('input')?.focus();
  }

  function hint() {
    return h('p', { class: 'hint' }, t('login.selfHostedHint'));
  }

  function phoneStep() {
    const field = phoneField({ id: 'login-phone', testid: 'phone-input', autocomplete: 'tel' });
    field.input.value = draft.typed;
    const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'login-error' }, notice);
    const button = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'send-code' }, t('login.sendCode'));
    const haveCode = h('button', { type: 'button', class: 'link-btn', 'data-testid': 'have-code', hidden: true, onclick: enterCode }, t('login.haveCode'));

    const blocked = () => draft.blockedUntil > Date.now()
      && (draft.blockedBy === 'network' || draft.blockedPhone === field.value());
    tick = () => {
      if (blocked()) {
        const s = secondsLeft(draft.blockedUntil);
        error.textContent = draft.blockedBy === 'network'
          ? tn('login.networkLimited', Math.ceil(s / 60))
          : t('login.rateLimited', { s });
        // Only a number this browser had a code sent to may go on to enter it.
        haveCode.hidden = !codesSent()[field.value()];
      } else if (draft.blockedUntil) {
        draft.blockedUntil = 0;
        error.textContent = '';
        haveCode.hidden = true;
      }
      button.disabled = blocked() || button.getAttribute('aria-busy') === 'true';
    };
    // An error about the number goes as soon as the number is usable.
    field.input.addEventListener('input', () => {
      if (!draft.blockedUntil && field.plausible() && error.textContent) error.textContent = '';
      tick();
    });

    function enterCode() {
      draft.typed = field.input.value;
      draft.phone = field.value();
      goTo('code');
    }

    async function submit(event) {
      event.preventDefault();
      draft.typed = field.input.value;
      if (!field.plausible()) {
        error.textContent = t('login.phoneMissing');
        field.input.focus();
        return;
      }
      const phoneNumber = field.value();
      error.textContent = '';
      setBusy(button, true);
      try {
        const answer = await api.post('/api/auth/send-otp', { phoneNumber, ...(invite && { invite }) }, { auth: false });
        draft.phone = phoneNumber;
        draft.resendAt = Date.now() + (answer?.retryAfter ?? 30) * 1000;
        rememberCodeSent(phoneNumber, answer);
        goTo('code');
      } catch (err) {
        setBusy(button, false);
        if (err.code === 'rate_limited') {
          // The server's answer is the same for both limits: a number this browser sent no code
          // to a moment ago was refused because of the address.
          const sent = codesSent()[phoneNumber];
          draft.phone = phoneNumber;
          draft.blockedPhone = phoneNumber;
          draft.blockedBy = sent && Date.now() < sent.resendAt ? 'number' : 'network';
          draft.blockedUntil = Date.now() + (err.retryAfter ?? 30) * 1000;
          tick();
          return;
        }
        error.textContent = errorText(err, {
          validation_failed: t('login.phoneInvalid'),
          otp_delivery_failed: t('login.deliveryFailed'),
        });
        field.input.focus();
      }
    }

    return h('form', { class: 'stack', novalidate: true, onsubmit: submit },
      h('h1', { class: 'auth-title' }, t('login.title')),
      h('p', { class: 'muted' }, t('login.intro')),
      h('label', { class: 'label', for: 'login-phone' }, t('login.phoneLabel')),
      field.el,
      h('p', { class: 'help' }, t('login.phoneHelp')),
      button,
      error,
      haveCode,
      hint());
  }

  function codeStep() {
    let previousLength = 0;
    const input = h('input', {
      id: 'login-otp',
      class: 'input otp-input',
      type: 'text',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      maxlength: 6,
      pattern: '[0-9]*',
      'data-testid': 'otp-input',
      oninput: () => {
        input.value = input.value.replace(/\D/g, '').slice(0, 6);
        // A whole code at once came from paste or SMS autofill: submit it. Typed digits wait for the button.
        if (input.value.length === 6 && previousLength <= 1) form.requestSubmit();
        previousLength = input.value.length;
      },
    });
    const verify = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'verify-code' }, t('login.verify'));
    const error = h('p', { class: 'form-error', role: 'alert' });
    const status = h('p', { class: 'form-status', role: 'status' });
    const resend = h('button', { type: 'button', class: 'link-btn', onclick: resendCode });

    tick = () => {
      const left = secondsLeft(draft.resendAt);
      resend.disabled = left > 0 || resend.getAttribute('aria-busy') === 'true';
      resend.textContent = left > 0 ? t('login.resendIn', { s: left }) : t('login.resend');
    };

    async function verifyCode(event) {
      event.preventDefault();
      const otp = input.value.replace(/\D/g, '');
      if (otp.length !== 6) {
        error.textContent = t('login.codeLength');
        input.focus();
        return;
      }
      error.textContent = '';
      status.textContent = '';
      setBusy(verify, true);
      try {
        const answer = await api.post('/api/auth/verify-otp', { phoneNumber: draft.phone, otp }, { auth: false });
        Object.assign(draft, { step: 'phone', typed: '', phone: '', resendAt: 0 });
        session.start(answer, answer.user, Boolean(answer.isNewUser) || !answer.user?.name);
      } catch (err) {
        setBusy(verify, false);
        error.textContent = errorText(err, {
          invalid_otp: (e) => {
            const left = e.body.attemptsLeft;
            if (left > 0) return tn('login.wrongCode', left);
            return left === 0 ? t('login.locked') : t('login.invalidCode');
          },
          otp_locked: t('login.locked'),
          otp_expired: t('login.expired'),
          validation_failed: t('login.codeLength'),
        });
        input.select();
        input.focus();
      }
    }

    async function resendCode() {
      error.textContent = '';
      status.textContent = '';
      setBusy(resend, true);
      try {
        const answer = await api.post('/api/auth/send-otp', { phoneNumber: draft.phone, ...(invite && { invite }) }, { auth: false });
        draft.resendAt = Date.now() + (answer?.retryAfter ?? 30) * 1000;
        rememberCodeSent(draft.phone, answer);
        status.textContent = t('login.resent');
        input.value = '';
        input.focus();
      } catch (err) {
        if (err.code === 'rate_limited') draft.resendAt = Date.now() + (err.retryAfter ?? 30) * 1000;
        error.textContent = errorText(err, { otp_delivery_failed: t('login.deliveryFailed') });
      } finally {
        resend.setAttribute('aria-busy', 'false');
        tick();
      }
    }

    const form = h('form', { class: 'stack', novalidate: true, onsubmit: verifyCode },
      h('h1', { class: 'auth-title' }, t('login.codeTitle')),
      h('p', { class: 'muted' }, t('login.codeSent', { phone: draft.phone }), ' ',
        h('button', { type: 'button', class: 'link-btn', onclick: () => goTo('phone') }, t('login.changeNumber'))),
      h('label', { class: 'label', for: 'login-otp' }, t('login.codeLabel')),
      input,
      verify,
      error,
      status,
      h('p', { class: 'center' }, resend),
      hint());
    return form;
  }

  function goTo(step) {
    draft.step = step;
    render();
  }

  render();
  return () => {
    clearInterval(ticker);
    view.remove();
  };
}
