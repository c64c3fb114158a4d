// A group's invite links, in its info screen, for the group's admins: making one (how long it
// works, and optionally how many may join with it), each live link as text and a QR code with
// Share (the system's share sheet where there is one, else copying), how often it was used and
// until when it works, and revoking it.
import { h, setBusy } from '../dom.js';
import { t, tn } from '../i18n.js';
import * as api from '../api.js';
import * as store from '../store.js';
import { fullDateTime } from '../format.js';
import { errorText } from '../errors.js';
import { copyText } from '../clipboard.js';
import { qrSvg, QrTooLong } from '../qr.js';
import { toast } from './notify.js';

const EXPIRY = [['hour', 3_600], ['day', 86_400], ['week', 604_800], ['month', 2_592_000]];
const INVITE_ERRORS = { forbidden: () => t('info.notAdmin') };

const absolute = (invite) => new URL(invite.url, location.origin).href;

export function groupInvites(chatId) {
  const base = `/api/chats/${encodeURIComponent(chatId)}/invites`;
  const expiry = h('select', { id: 'invite-expiry', class: 'input select', 'data-testid': 'invite-expiry', value: 'week' },
    EXPIRY.map(([key]) => h('option', { value: key }, t(`groupInvite.expiry.${key}`))));
  const maxUses = h('input', { id: 'invite-max-uses', class: 'input', type: 'number', min: 1, max: 1000, step: 1, inputmode: 'numeric', autocomplete: 'off', 'data-testid': 'invite-max-uses' });
  const create = h('button', { type: 'submit', class: 'btn btn-secondary btn-block', 'data-testid': 'invite-create' }, t('groupInvite.create'));
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const list = h('ul', { class: 'invite-list', 'data-testid': 'invite-list' });
  const form = h('form', { class: 'stack', novalidate: true, onsubmit: submit },
    h('div', { class: 'invite-options' },
      h('div', { class: 'stack' }, h('label', { class: 'label', for: 'invite-expiry' }, t('groupInvite.expiry')), expiry),
      h('div', { class: 'stack' }, h('label', { class: 'label', for: 'invite-max-uses' }, t('groupInvite.maxUses')), maxUses)),
    create,
    formError);
  const el = h('div', { class: 'stack', hidden: true, 'data-testid': 'group-invites' },
    h('h2', { class: 'section-title' }, t('groupInvite.title')),
    h('p', { class: 'help' }, t('groupInvite.help')),
    list,
    form);
  let loaded = false;

  function inviteItem(invite) {
    const link = absolute(invite);
    const error = h('p', { class: 'form-error', role: 'alert' });
    let qr;
    try {
      qr = h('div', { class: 'qr invite-qr', 'data-testid': 'invite-qr' }, qrSvg(link, t('groupInvite.qrLabel')));
    } catch (err) {
      if (!(err instanceof QrTooLong)) throw err;
      qr = h('p', { class: 'help' }, t('groupInvite.tooLong'));
    }
    const uses = invite.maxUses
      ? t('groupInvite.uses', { uses: invite.uses, max: invite.maxUses })
      : tn('groupInvite.usesUnlimited', invite.uses);
    const share = h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-testid': 'invite-share' }, t('groupInvite.share'));
    const copy = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'invite-copy' }, t('groupInvite.copy'));
    const revoke = h('button', { type: 'button', class: 'btn btn-danger btn-small', 'data-testid': 'invite-revoke' }, t('groupInvite.revoke'));
    const copyLink = async () => {
      if (await copyText(link)) toast(t('groupInvite.copied'));
    };
    share.addEventListener('click', async () => {
      const name = store.state.chats.get(chatId)?.name || '';
      const data = { title: t('groupInvite.shareText', { name }), url: link };
      if (navigator.share && (!navigator.canShare || navigator.canShare(data))) {
        try {
          await navigator.share(data);
          return;
        } catch (err) {
          if (err?.name === 'AbortError') return; // the person closed the share sheet
        }
      }
      await copyLink();
    });
    copy.addEventListener('click', copyLink);
    revoke.addEventListener('click', async () => {
      if (!window.confirm(t('groupInvite.confirmRevoke'))) return;
      error.textContent = '';
      setBusy(revoke, true);
      try {
        await api.del(`${base}/${encodeURIComponent(invite.code)}`);
        item.remove();
        toast(t('groupInvite.revoked'));
      } catch (err) {
        setBusy(revoke, false);
        error.textContent = errorText(err, INVITE_ERRORS);
      }
    });
    const item = h('li', { class: 'invite', 'data-testid': 'invite', 'data-code': invite.code },
      qr,
      h('div', { class: 'invite-text stack' },
        h('a', { class: 'invite-link', href: link, 'data-testid': 'invite-link', dir: 'ltr' }, link),
        h('p', { class: 'muted', 'data-testid': 'invite-uses' }, uses),
        h('p', { class: 'muted' }, t('groupInvite.expires', { when: fullDateTime(invite.expiresAt) })),
        h('div', { class: 'button-row' }, share, copy, revoke),
        error));
    return item;
  }

  async function load() {
    try {
      const { invites } = await api.get(base);
      list.replaceChildren(...invites.map(inviteItem));
    } catch (err) {
      formError.textContent = errorText(err, INVITE_ERRORS);
    }
  }

  async function submit(event) {
    event.preventDefault();
    formError.textContent = '';
    const body = { expiresIn: EXPIRY.find(([key]) => key === expiry.value)[1] };
    const typed = maxUses.value.trim();
    if (typed) {
      const n = Number(typed);
      if (!/^\d+$/.test(typed) || n < 1 || n > 1000) {
        formError.textContent = t('groupInvite.maxUsesInvalid');
        maxUses.focus();
        return;
      }
      body.maxUses = n;
    }
    setBusy(create, true);
    try {
      const invite = await api.post(base, body);
      list.prepend(inviteItem(invite));
      maxUses.value = '';
    } catch (err) {
      formError.textContent = errorText(err, { ...INVITE_ERRORS, validation_failed: t('groupInvite.maxUsesInvalid') });
    } finally {
      setBusy(create, false);
    }
  }

  return {
    el,
    // Shown to the group's admins only; the links are fetched the first time it shows.
    update(admin) {
      el.hidden = !admin;
      if (admin && !loaded) {
        loaded = true;
        load();
      }
    },
  };
}
