// First sign-in: ask for the display name others will see (PUT /api/users/profile).
import { h, setBusy } from '../dom.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import * as session from '../session.js';
import { codePoints } from '../format.js';
import { errorText } from '../errors.js';
import { authLayout } from './auth-layout.js';

export function mountNameStep(root) {
  const input = h('input', {
    id: 'first-name',
    class: 'input',
    dir: 'auto',
    maxlength: 64,
    autocomplete: 'name',
    'data-testid': 'name-input',
    value: session.get()?.user?.name || '',
  });
  const save = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'name-save' }, t('name.save'));
  const error = h('p', { class: 'form-error', role: 'alert' });

  async function submit(event) {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) {
      error.textContent = t('name.missing');
      input.focus();
      return;
    }
    if (codePoints(name) > 64) {
      error.textContent = t('name.tooLong');
      input.focus();
      return;
    }
    error.textContent = '';
    setBusy(save, true);
    try {
      const user = await api.put('/api/users/profile', { name });
      session.setUser(user || { ...session.get().user, name }, { needsName: false });
    } catch (err) {
      setBusy(save, false);
      error.textContent = errorText(err, { validation_failed: t('name.invalid') });
    }
  }

  const view = authLayout(
    h('form', { class: 'stack', novalidate: true, onsubmit: submit },
      h('h1', { class: 'auth-title' }, t('name.title')),
      h('p', { class: 'muted' }, t('name.intro')),
      h('label', { class: 'label', for: 'first-name' }, t('name.label')),
      input,
      save,
      error,
      h('p', { class: 'center' }, h('button', { type: 'button', class: 'link-btn', onclick: () => api.logout().catch(() => {}) }, t('name.otherAccount')))));
  root.append(view);
  input.focus();
  return () => view.remove();
}
