// The language picker: the choice is remembered and applied at once.
import { h } from '../dom.js';
import { LANGUAGES, getLang, setLang, t } from '../i18n.js';

export function languageSelect(id) {
  return h('select', { id, class: 'input select', 'aria-label': t('settings.language'), value: getLang(), onchange: (e) => setLang(e.target.value) },
    LANGUAGES.map(({ code, label }) => h('option', { value: code, lang: code }, label)));
}
