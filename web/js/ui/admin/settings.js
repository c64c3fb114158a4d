// Settings: who may sign up, which number prefixes may, and how long messages can be edited and
// deleted for everyone. Durations show in words and are edited as a number and a unit; the
// server gets seconds. A setting the server's environment fixed shows disabled with why, and is
// never sent. Mistakes are caught here where possible, and the server's refusals are shown
// beside the field they name; a refused save changes nothing.
import { h, setBusy } from '../../dom.js';
import { t } from '../../i18n.js';
import * as api from '../../api.js';
import { adminError, spokenDuration } from './common.js';

const REGISTRATION = ['open', 'invite', 'closed'];
const UNITS = [['days', 86_400], ['hours', 3_600], ['minutes', 60]];
const PREFIX = /^\+\d{1,15}$/;

// The largest unit that divides `seconds` evenly (minutes at the least).
function splitSeconds(seconds) {
  const [unit, size] = UNITS.find(([, s]) => seconds % s === 0) || UNITS[UNITS.length - 1];
  return { amount: Math.round(seconds / size), unit };
}

function field(name, label, control, help) {
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': `admin-settings-error-${name}` });
  const lockNote = h('p', { class: 'help admin-locked', hidden: true, 'data-testid': `admin-settings-locked-${name}` }, t('admin.settings.locked'));
  const el = h('div', { class: 'admin-field stack', 'data-setting': name },
    h('label', { class: 'label', for: `admin-setting-${name}` }, label),
    control,
    help,
    lockNote,
    error);
  return { el, error, lockNote };
}

function windowControl(name, label) {
  const amount = h('input', { id: `admin-setting-${name}`, class: 'input admin-amount', type: 'number', min: 0, step: 1, inputmode: 'numeric', 'data-testid': `admin-setting-${name}` });
  const unit = h('select', { class: 'input select admin-unit', 'aria-label': label, 'data-testid': `admin-setting-${name}-unit` },
    UNITS.map(([key]) => h('option', { value: key }, t(`admin.settings.unit.${key}`))));
  const now = h('p', { class: 'help' });
  return {
    el: h('div', { class: 'inline-form' }, amount, unit),
    now,
    set(seconds) {
      const split = splitSeconds(seconds);
      amount.value = String(split.amount);
      unit.value = split.unit;
      now.textContent = t('admin.settings.windowHelp', { now: seconds ? spokenDuration(seconds) : t('admin.settings.noLimit') });
    },
    // Seconds, or null when the amount is not a whole number of 0 or more.
    seconds() {
      const text = amount.value.trim();
      if (!/^\d+$/.test(text)) return null;
      return Number(text) * UNITS.find(([key]) => key === unit.value)[1];
    },
    disable(locked) {
      amount.disabled = locked;
      unit.disabled = locked;
    },
  };
}

export function settingsSection() {
  const registration = h('select', { id: 'admin-setting-registration', class: 'input select', 'data-testid': 'admin-setting-registration' },
    REGISTRATION.map((key) => h('option', { value: key }, t(`admin.settings.registration.${key}`))));
  const prefixes = h('input', { id: 'admin-setting-allowedPhonePrefixes', class: 'input', autocomplete: 'off', inputmode: 'tel', placeholder: '+62, +65', 'data-testid': 'admin-setting-allowedPhonePrefixes' });
  const edit = windowControl('editWindow', t('admin.settings.editWindow'));
  const del = windowControl('deleteWindow', t('admin.settings.deleteWindow'));
  const fields = {
    registration: field('registration', t('admin.settings.registration'), registration, null),
    allowedPhonePrefixes: field('allowedPhonePrefixes', t('admin.settings.prefixes'), prefixes, h('p', { class: 'help' }, t('admin.settings.prefixesHelp'))),
    editWindow: field('editWindow', t('admin.settings.editWindow'), edit.el, edit.now),
    deleteWindow: field('deleteWindow', t('admin.settings.deleteWindow'), del.el, del.now),
  };
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'admin-settings-save' }, t('admin.settings.save'));
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const formStatus = h('p', { class: 'form-status', role: 'status', 'data-testid': 'admin-settings-status' });
  let locked = new Set();

  function show(settings) {
    locked = new Set(settings.locked || []);
    registration.value = settings.registration;
    prefixes.value = (settings.allowedPhonePrefixes || []).join(', ');
    edit.set(settings.editWindow);
    del.set(settings.deleteWindow);
    registration.disabled = locked.has('registration');
    prefixes.disabled = locked.has('allowedPhonePrefixes');
    edit.disable(locked.has('editWindow'));
    del.disable(locked.has('deleteWindow'));
    for (const [name, f] of Object.entries(fields)) {
      f.lockNote.hidden = !locked.has(name);
      f.el.classList.toggle('locked', locked.has(name));
    }
  }

  // The change to send (unlocked settings only), or null after marking what is wrong.
  function collect() {
    const change = {};
    let ok = true;
    const wrong = (name, text) => {
      fields[name].error.textContent = text;
      ok = false;
    };
    if (!locked.has('registration')) change.registration = registration.value;
    if (!locked.has('allowedPhonePrefixes')) {
      const list = prefixes.value.split(/[\s,;]+/).filter(Boolean);
      const bad = list.find((prefix) => !PREFIX.test(prefix));
      if (bad) wrong('allowedPhonePrefixes', t('admin.settings.prefixInvalid', { prefix: bad }));
      change.allowedPhonePrefixes = list;
    }
    for (const [name, control] of [['editWindow', edit], ['deleteWindow', del]]) {
      if (locked.has(name)) continue;
      const seconds = control.seconds();
      if (seconds === null) wrong(name, t('admin.settings.windowInvalid'));
      change[name] = seconds;
    }
    return ok ? change : null;
  }

  async function submit(event) {
    event.preventDefault();
    for (const f of Object.values(fields)) f.error.textContent = '';
    formError.textContent = '';
    formStatus.textContent = '';
    const change = collect();
    if (!change) {
      formError.textContent = t('admin.settings.invalid');
      return;
    }
    setBusy(save, true);
    try {
      show(await api.patch('/api/admin/settings', change));
      formStatus.textContent = t('admin.settings.saved');
    } catch (err) {
      const problems = err.body?.errors || [];
      for (const problem of problems) {
        const f = fields[problem.field];
        if (f) f.error.textContent = f.error.textContent ? `${f.error.textContent} ${problem.message}` : problem.message;
      }
      formError.textContent = problems.length ? t('admin.settings.invalid') : adminError(err);
    } finally {
      setBusy(save, false);
    }
  }

  const form = h('form', { class: 'admin-section stack', novalidate: true, onsubmit: submit, 'data-testid': 'admin-settings', hidden: true },
    Object.values(fields).map((f) => f.el),
    save,
    formError,
    formStatus);
  const status = h('p', { class: 'muted', role: 'status' }, t('common.loading'));
  api.get('/api/admin/settings').then((settings) => {
    show(settings);
    form.hidden = false;
    status.textContent = '';
  }, (err) => {
    status.textContent = adminError(err);
  });
  return { el: h('div', null, status, form) };
}
