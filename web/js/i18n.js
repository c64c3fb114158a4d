// Every user-facing string lives in ./i18n/<language>.js. This module picks the language (the saved
// choice, else the browser's), looks strings up with {placeholders} and plural forms, and announces
// changes so the screens can re-render.
import en from './i18n/en.js';
import id from './i18n/id.js';
import { createEmitter } from './emitter.js';

const STRINGS = { en, id };
const STORAGE_KEY = 'clavox.lang';
const events = createEmitter();
const pluralRules = new Map();

export const LANGUAGES = [
  { code: 'en', label: 'English' },
  { code: 'id', label: 'Bahasa Indonesia' },
];

let lang = initialLanguage();
document.documentElement.lang = lang;

function browserTags() {
  return navigator.languages?.length ? navigator.languages : [navigator.language || 'en'];
}

function baseOf(tag) {
  const base = String(tag).toLowerCase().split('-')[0];
  return base === 'in' ? 'id' : base; // "in" is the legacy code for Indonesian
}

function initialLanguage() {
  let saved = null;
  try {
    saved = localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage can be blocked; fall back to the browser's languages.
  }
  if (saved && STRINGS[saved]) return saved;
  return browserTags().map(baseOf).find((base) => STRINGS[base]) || 'en';
}

export const getLang = () => lang;
export const onLangChange = (fn) => events.on('change', fn);

export function setLang(code) {
  if (!STRINGS[code] || code === lang) return;
  lang = code;
  document.documentElement.lang = code;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // Not remembered across reloads, but still applied now.
  }
  events.emit('change');
}

// The browser's own tag for the chosen language (so en-GB keeps a 24-hour clock), else a default.
export function locale() {
  return browserTags().find((tag) => baseOf(tag) === lang) || (lang === 'id' ? 'id-ID' : 'en');
}

export function t(key, vars) {
  const text = STRINGS[lang][key] ?? en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (match, name) => (vars[name] === undefined ? match : String(vars[name])));
}

// Plural forms are keys with a CLDR suffix: "members.one", "members.other".
export function tn(key, n, vars) {
  if (!pluralRules.has(lang)) pluralRules.set(lang, new Intl.PluralRules(lang));
  const exact = `${key}.${pluralRules.get(lang).select(n)}`;
  const chosen = STRINGS[lang][exact] !== undefined || en[exact] !== undefined ? exact : `${key}.other`;
  return t(chosen, { n, ...vars });
}
