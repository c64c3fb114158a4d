// Profile and settings: name and picture (PUT /api/users/profile), language, theme, notifications, the
// signed-in devices (GET /api/auth/sessions, ending others with DELETE), and signing out (which
// takes this device's push subscription back first, while the session may still do so).
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t, tn } from '../i18n.js';
import * as api from '../api.js';
import * as session from '../session.js';
import * as store from '../store.js';
import * as router from '../router.js';
import * as outbox from '../outbox.js';
import * as uploads from '../upload-queue.js';
import * as notifications from '../notifications.js';
import { codePoints, fullDateTime, safeUrl } from '../format.js';
import { errorText } from '../errors.js';
import { avatar } from './avatar.js';
import { panelHeader } from './panel.js';
import { languageSelect } from './language-select.js';
import { installSection } from './install-app.js';
import { notificationSettings } from './notification-settings.js';
import { accountSettings } from './account-settings.js';
import * as theme from '../theme.js';

const RASTER_TYPES = 'image/png,image/jpeg,image/gif,image/webp';

function deviceLabel(agent) {
  if (!agent) return t('profile.unknownDevice');
  const browser = [[/Edg\//, 'Edge'], [/OPR\//, 'Opera'], [/Firefox\//, 'Firefox'], [/Chrome\//, 'Chrome'], [/Safari\//, 'Safari']]
    .find(([pattern]) => pattern.test(agent))?.[1];
  const system = [[/Android/, 'Android'], [/iPhone|iPad|iPod/, 'iOS'], [/Windows/, 'Windows'], [/CrOS/, 'ChromeOS'], [/Mac OS X|Macintosh/, 'macOS'], [/Linux/, 'Linux']]
    .find(([pattern]) => pattern.test(agent))?.[1];
  if (browser && system) return t('profile.deviceOn', { browser, system });
  return browser || system || agent.slice(0, 48);
}

export function mountProfile(container) {
  const me = store.state.me;
  const preview = h('div', { class: 'profile-avatar' });
  const nameInput = h('input', { id: 'profile-name', class: 'input', dir: 'auto', maxlength: 64, autocomplete: 'name', value: me.name || '' });
  const avatarInput = h('input', { id: 'profile-avatar', class: 'input', type: 'url', inputmode: 'url', autocomplete: 'off', placeholder: 'https://…', value: me.avatar || '' });
  const photoPicker = h('input', { type: 'file', accept: RASTER_TYPES, hidden: true, tabindex: -1 });
  const uploadButton = h('button', { type: 'button', class: 'link-btn', onclick: () => photoPicker.click() }, t('profile.uploadPhoto'));
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, t('profile.save'));
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const formStatus = h('p', { class: 'form-status', role: 'status' });
  const devices = h('ul', { class: 'people-list', 'aria-label': t('profile.devices') });
  const devicesStatus = h('p', { class: 'muted', role: 'status' });
  const endOthers = h('button', { type: 'button', class: 'btn btn-secondary', hidden: true }, t('profile.endOthers'));
  const install = installSection();
  const notifying = notificationSettings();
  const account = accountSettings();
  const logout = h('button', { type: 'button', class: 'btn btn-danger btn-block', 'data-testid': 'logout' }, icon('logout'), t('profile.logout'));

  function renderPreview() {
    preview.replaceChildren(avatar({ id: me.id, name: nameInput.value || me.name, url: avatarInput.value.trim() }, 'xl'));
  }

  async function saveProfile(event) {
    event.preventDefault();
    const name = nameInput.value.trim();
    const picture = avatarInput.value.trim() || null;
    formError.textContent = '';
    formStatus.textContent = '';
    if (!name || codePoints(name) > 64) {
      formError.textContent = t('name.missing');
      nameInput.focus();
      return;
    }
    if (picture && (!safeUrl(picture) || picture.length > 2048)) {
      formError.textContent = t('profile.avatarInvalid');
      avatarInput.focus();
      return;
    }
    setBusy(save, true);
    try {
      const user = (await api.put('/api/users/profile', { name, avatar: picture })) || { ...store.state.me, name, avatar: picture };
      store.putUser(user);
      session.setUser(user);
      formStatus.textContent = t('profile.saved');
    } catch (err) {
      formError.textContent = errorText(err, { validation_failed: t('profile.invalid') });
    } finally {
      setBusy(save, false);
    }
  }

  async function uploadPhoto() {
    const file = photoPicker.files[0];
    photoPicker.value = '';
    if (!file) return;
    formError.textContent = '';
    formStatus.textContent = t('profile.uploading');
    setBusy(uploadButton, true);
    try {
      const uploaded = await api.upload(file);
      avatarInput.value = uploaded.url;
      renderPreview();
      formStatus.textContent = t('profile.uploaded');
    } catch (err) {
      formStatus.textContent = '';
      formError.textContent = errorText(err, { payload_too_large: t('composer.fileTooLarge') });
    } finally {
      setBusy(uploadButton, false);
    }
  }

  async function endSession(id) {
    devicesStatus.textContent = '';
    try {
      await api.del(`/api/auth/sessions/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status !== 404) devicesStatus.textContent = errorText(err);
    }
  }

  function renderDevices(sessions) {
    const ordered = [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || Date.parse(b.lastUsedAt) - Date.parse(a.lastUsedAt));
    devices.replaceChildren(...ordered.map((s) => h('li', { class: 'person device' },
      h('span', { class: 'device-icon' }, icon('device')),
      h('span', { class: 'person-text' },
        h('span', { class: 'person-name' }, deviceLabel(s.userAgent), s.current ? h('span', { class: 'tag' }, t('profile.thisDevice')) : null),
        h('span', { class: 'person-sub' }, [t('profile.lastActive', { when: fullDateTime(s.lastUsedAt || s.createdAt) }), s.ip].filter(Boolean).join(' · '))),
      s.current ? null : h('button', {
        type: 'button',
        class: 'btn btn-small btn-secondary',
        'aria-label': t('profile.endNamed', { device: deviceLabel(s.userAgent) }),
        onclick: async (event) => {
          setBusy(event.currentTarget, true);
          await endSession(s.id);
          loadDevices();
        },
      }, t('profile.end')))));
    const others = sessions.filter((s) => !s.current);
    endOthers.hidden = others.length < 2;
    endOthers.onclick = async () => {
      setBusy(endOthers, true);
      for (const s of others) await endSession(s.id);
      setBusy(endOthers, false);
      loadDevices();
    };
  }

  async function loadDevices() {
    try {
      const { sessions } = await api.get('/api/auth/sessions');
      devicesStatus.textContent = '';
      renderDevices(sessions);
    } catch (err) {
      devicesStatus.textContent = errorText(err);
    }
  }

  logout.addEventListener('click', async () => {
    const unsent = outbox.size() + uploads.size();
    if (unsent && !window.confirm(tn('profile.unsentWarning', unsent))) return;
    setBusy(logout, true);
    outbox.unload({ discard: true });
    uploads.unload({ discard: true });
    await notifications.signOut().catch(() => {});
    await api.logout().catch(() => {});
  });
  nameInput.addEventListener('input', renderPreview);
  // An error about the name goes as soon as the name is usable.
  nameInput.addEventListener('input', () => {
    const name = nameInput.value.trim();
    if (formError.textContent === t('name.missing') && name && codePoints(name) <= 64) formError.textContent = '';
  });
  avatarInput.addEventListener('input', renderPreview);
  photoPicker.addEventListener('change', uploadPhoto);

  const root = h('section', { class: 'panel', 'aria-label': t('profile.title') },
    panelHeader(t('profile.title'), () => router.back('/')),
    h('div', { class: 'panel-scroll panel-body' },
      h('form', { class: 'stack', novalidate: true, onsubmit: saveProfile },
        preview,
        h('p', { class: 'center muted' }, me.phoneNumber),
        h('label', { class: 'label', for: 'profile-name' }, t('name.label')),
        nameInput,
        h('label', { class: 'label', for: 'profile-avatar' }, t('profile.avatarLabel')),
        avatarInput,
        h('p', { class: 'help' }, t('profile.avatarHelp'), ' ', uploadButton, photoPicker),
        save,
        formError,
        formStatus),
      h('div', { class: 'stack' },
        h('h2', { class: 'section-title' }, h('label', { for: 'profile-lang' }, t('settings.language'))),
        languageSelect('profile-lang')),
      h('div', { class: 'stack' },
        h('h2', { class: 'section-title' }, h('label', { for: 'profile-theme' }, t('settings.theme'))),
        h('select', { id: 'profile-theme', class: 'input select', 'data-testid': 'theme-select', value: theme.chosen(), onchange: (event) => theme.choose(event.target.value) },
          theme.THEMES.map((name) => h('option', { value: name }, t(`settings.theme.${name}`))))),
      notifying.el,
      install?.el,
      h('div', { class: 'stack' },
        h('h2', { class: 'section-title' }, t('profile.devices')),
        h('p', { class: 'help' }, t('profile.devicesHelp')),
        devicesStatus,
        devices,
        endOthers),
      account.el,
      logout));
  container.append(root);
  devicesStatus.textContent = t('common.loading');
  renderPreview();
  loadDevices();
  root.querySelector('h1')?.focus({ preventScroll: true });
  return () => {
    install?.destroy();
    notifying.destroy();
    account.destroy();
    root.remove();
  };
}
