// The profile's "Notifications" section: push on this device (on, off, blocked, or where it needs
// the secure address), the tone for new messages, and for phones on a LAN without internet the ntfy
// app: the person's secret topic link (GET /api/notify/topic) as text and QR code, copying it, and
// replacing it (DELETE) when it may have leaked.
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import * as notifications from '../notifications.js';
import * as sound from '../sound.js';
import { errorText } from '../errors.js';
import { toast } from './notify.js';
import { turnOn, explainPushNeedsHttps } from './push-offer.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
// The QR code is the server's own markup, yet only its drawing is taken: shapes and their geometry,
// nothing that could run, link or load.
const QR_ELEMENTS = new Set(['svg', 'g', 'rect', 'path']);
const QR_ATTRIBUTES = new Set(['width', 'height', 'viewBox', 'shape-rendering', 'fill', 'd', 'x', 'y', 'transform']);

function keepDrawing(el) {
  for (const attribute of [...el.attributes]) if (!QR_ATTRIBUTES.has(attribute.name)) el.removeAttribute(attribute.name);
  for (const child of [...el.children]) {
    if (child.namespaceURI === SVG_NS && QR_ELEMENTS.has(child.localName)) keepDrawing(child);
    else child.remove();
  }
}

function qrImage(markup, label) {
  const parsed = new DOMParser().parseFromString(markup || '', 'image/svg+xml');
  const svg = parsed.documentElement;
  if (svg.namespaceURI !== SVG_NS || svg.localName !== 'svg' || parsed.getElementsByTagName('parsererror').length) return null;
  keepDrawing(svg);
  const image = document.importNode(svg, true);
  image.setAttribute('role', 'img');
  image.setAttribute('aria-label', label);
  return image;
}

function pushSection() {
  const state = h('span', { class: 'setting-sub', 'data-testid': 'push-status' });
  const action = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'push-toggle' });
  const help = h('p', { class: 'help' });

  async function toggle() {
    const now = notifications.status();
    if (now === 'insecure') explainPushNeedsHttps(action);
    else if (now === 'off') await turnOn(action);
    else if (now === 'on') {
      setBusy(action, true);
      await notifications.disable();
      setBusy(action, false);
    }
  }
  action.addEventListener('click', toggle);

  function render() {
    const now = notifications.status();
    state.textContent = t(`push.status.${now}`);
    state.dataset.status = now;
    const failure = now === 'off' ? notifications.lastFailure() : null;
    help.textContent = failure ? errorText(failure, { no_worker: t('push.noWorker') }) : t(`push.help.${now}`);
    action.hidden = now === 'unsupported' || now === 'denied';
    action.textContent = now === 'on' ? t('push.turnOff') : now === 'insecure' ? t('push.howTo') : t('push.turnOn');
  }
  render();
  return {
    nodes: [h('div', { class: 'setting-row' }, icon('bell', 'icon setting-icon'), h('span', { class: 'setting-text' }, h('span', { class: 'setting-name' }, t('push.device')), state), action), help],
    destroy: notifications.onChange(render),
  };
}

function soundRow() {
  const toggle = h('input', { type: 'checkbox', role: 'switch', id: 'sound-switch', class: 'switch', 'data-testid': 'sound-switch' });
  toggle.checked = sound.isOn();
  toggle.addEventListener('change', () => sound.setOn(toggle.checked));
  return h('label', { class: 'setting-row', for: 'sound-switch' },
    icon('volume', 'icon setting-icon'),
    h('span', { class: 'setting-text' }, h('span', { class: 'setting-name' }, t('sound.label')), h('span', { class: 'setting-sub' }, t('sound.help'))),
    toggle);
}

function ntfySection() {
  const qr = h('div', { class: 'qr', 'data-testid': 'ntfy-qr' });
  const link = h('input', { id: 'ntfy-url', class: 'input ntfy-url', readonly: true, 'data-testid': 'ntfy-url', 'aria-label': t('ntfy.linkLabel') });
  const where = h('p', { class: 'help', 'data-testid': 'ntfy-where' });
  const status = h('p', { class: 'help', role: 'status', hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const copy = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'ntfy-copy' }, icon('copy'), t('ntfy.copy'));
  const replace = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'ntfy-replace' }, icon('refresh'), t('ntfy.replace'));
  const body = h('div', { class: 'stack ntfy-body', hidden: true },
    h('p', { class: 'help' }, t('ntfy.steps')), qr, link, where, h('div', { class: 'button-row' }, copy, replace));
  const details = h('details', { class: 'ntfy', 'data-testid': 'ntfy' },
    h('summary', { class: 'ntfy-summary', 'data-testid': 'ntfy-open' }, t('ntfy.title')),
    h('div', { class: 'stack ntfy-inner' }, h('p', { class: 'help' }, t('ntfy.intro')), status, error, body));
  let loaded = false;

  function show(topic) {
    const image = qrImage(topic.qrSvg, t('ntfy.qrLabel'));
    qr.replaceChildren(...(image ? [image] : []));
    qr.hidden = !image;
    qr.dataset.url = topic.url;
    link.value = topic.url;
    const server = topic.url.slice(0, topic.url.length - topic.topic.length - 1);
    where.replaceChildren(t('ntfy.server', { server }), h('br'), t('ntfy.topic', { topic: topic.topic }));
    body.hidden = false;
  }

  async function load() {
    status.textContent = t('common.loading');
    status.hidden = false;
    error.textContent = '';
    try {
      show(await api.get('/api/notify/topic'));
      loaded = true;
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      status.textContent = '';
      status.hidden = true;
    }
  }

  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(link.value);
    } catch {
      // No clipboard API (plain http): the selected text copies the old way.
      link.select();
      document.execCommand('copy');
    }
    toast(t('ntfy.copied'));
  });

  replace.addEventListener('click', async () => {
    if (!window.confirm(t('ntfy.confirmReplace'))) return;
    error.textContent = '';
    setBusy(replace, true);
    try {
      show(await api.del('/api/notify/topic'));
      toast(t('ntfy.replaced'));
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      setBusy(replace, false);
    }
  });

  // The topic is made on first ask: only for those who open this part.
  details.addEventListener('toggle', () => {
    if (details.open && !loaded) load();
  });
  return details;
}

export function notificationSettings() {
  const push = pushSection();
  const el = h('div', { class: 'stack', 'data-testid': 'notification-settings' },
    h('h2', { class: 'section-title' }, t('push.title')),
    push.nodes,
    soundRow(),
    ntfySection());
  return { el, destroy: push.destroy };
}
