// A phone number input with a country-code picker. A number typed with a leading "+" (or "00")
// is used as written and the picker is ignored; otherwise the picked code is put in front and a
// national trunk "0" dropped (0812… → +62812…). The server normalises the rest.
import { h } from '../dom.js';
import { t, locale } from '../i18n.js';

const COUNTRIES = [
  ['ID', '62'], ['MY', '60'], ['SG', '65'], ['PH', '63'], ['TH', '66'], ['VN', '84'], ['TL', '670'],
  ['BN', '673'], ['AU', '61'], ['NZ', '64'], ['IN', '91'], ['CN', '86'], ['HK', '852'], ['TW', '886'],
  ['JP', '81'], ['KR', '82'], ['SA', '966'], ['AE', '971'], ['QA', '974'], ['NL', '31'], ['DE', '49'],
  ['FR', '33'], ['GB', '44'], ['US', '1'], ['CA', '1'],
];
const STORAGE_KEY = 'clavox.country';

function regionName(region) {
  try {
    return new Intl.DisplayNames([locale()], { type: 'region' }).of(region);
  } catch {
    return region;
  }
}

function savedRegion() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    return COUNTRIES.some(([region]) => region === saved) ? saved : 'ID';
  } catch {
    return 'ID';
  }
}

export function phoneField({ id, testid, autocomplete = 'off' }) {
  const shown = h('span', { class: 'cc-shown', 'aria-hidden': 'true' });
  const select = h('select', {
    class: 'cc-select',
    'aria-label': t('phone.country'),
    onchange: () => {
      try {
        localStorage.setItem(STORAGE_KEY, select.value);
      } catch {
        // Only a convenience for next time.
      }
      syncShown();
    },
  }, COUNTRIES.map(([region, code]) => h('option', { value: region }, `${regionName(region)} (+${code})`)));
  select.value = savedRegion();
  const input = h('input', {
    id,
    type: 'tel',
    inputmode: 'tel',
    autocomplete,
    class: 'input phone-input',
    placeholder: t('phone.placeholder'),
    'data-testid': testid,
    oninput: syncShown,
  });

  const codeOf = () => COUNTRIES.find(([region]) => region === select.value)[1];
  const international = () => /^\s*(\+|00)/.test(input.value);

  function syncShown() {
    shown.textContent = `+${codeOf()}`;
    shown.parentElement?.classList.toggle('cc-ignored', international());
  }

  const el = h('div', { class: 'phone-field' }, h('span', { class: 'cc' }, shown, select), input);
  syncShown();

  return {
    el,
    input,
    // The number to send, or "" when nothing usable was typed.
    value() {
      const raw = input.value.trim();
      if (raw.startsWith('+')) return raw;
      if (raw.startsWith('00')) return `+${raw.slice(2).replace(/\D/g, '')}`;
      const digits = raw.replace(/\D/g, '').replace(/^0+/, '');
      return digits ? `+${codeOf()}${digits}` : '';
    },
    // Rough local check before asking the server: enough digits to be a phone number.
    plausible() {
      return this.value().replace(/\D/g, '').length >= 7;
    },
    clear() {
      input.value = '';
      syncShown();
    },
  };
}
