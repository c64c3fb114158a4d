// Display formatting: dates and times in the user's locale, initials, avatar colours and one-line
// message summaries.
import { t, locale } from './i18n.js';

const DAY_MS = 86_400_000;
const formatters = new Map();

function format(options, date) {
  const key = locale() + JSON.stringify(options);
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat(locale(), options));
  return formatters.get(key).format(new Date(date));
}

function startOfDay(date) {
  const d = new Date(date);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

// Calendar days between `date` and today (0 = today), in local time.
function daysAgo(date) {
  return Math.round((startOfDay(Date.now()) - startOfDay(date)) / DAY_MS);
}

const sameYear = (date) => new Date(date).getFullYear() === new Date().getFullYear();

export const clock = (date) => format({ hour: 'numeric', minute: '2-digit' }, date);

export function dayKey(date) {
  const d = new Date(date);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(date) {
  const days = daysAgo(date);
  if (days === 0) return t('day.today');
  if (days === 1) return t('day.yesterday');
  const year = sameYear(date) ? {} : { year: 'numeric' };
  return format({ weekday: 'long', day: 'numeric', month: 'long', ...year }, date);
}

export function listTime(date) {
  if (!date) return '';
  const days = daysAgo(date);
  if (days === 0) return clock(date);
  if (days === 1) return t('day.yesterday');
  if (days > 1 && days < 7) return format({ weekday: 'short' }, date);
  return format({ day: 'numeric', month: 'numeric', year: '2-digit' }, date);
}

export function presence(user) {
  if (!user) return '';
  if (user.isOnline) return t('presence.online');
  if (!user.lastSeen) return '';
  const time = clock(user.lastSeen);
  const days = daysAgo(user.lastSeen);
  if (days === 0) return t('presence.lastSeenToday', { time });
  if (days === 1) return t('presence.lastSeenYesterday', { time });
  const year = sameYear(user.lastSeen) ? {} : { year: 'numeric' };
  const date = format({ day: 'numeric', month: 'short', ...year }, user.lastSeen);
  return t('presence.lastSeenOn', { date, time });
}

export function fullDateTime(date) {
  return format({ dateStyle: 'medium', timeStyle: 'short' }, date);
}

export function initials(name) {
  const words = String(name || '').trim().split(/\s+/).filter(Boolean);
  const picked = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return picked.map((word) => Array.from(word)[0]).join('').toUpperCase();
}

// A stable palette slot per id, so a person keeps their colour everywhere.
export function paletteIndex(id) {
  let hash = 0;
  for (const ch of String(id)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return hash % 8;
}

export const codePoints = (text) => Array.from(text).length;

export function fileSize(bytes) {
  if (!Number.isFinite(bytes)) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// One line describing a message, for the chat list and screen-reader announcements.
export function summary(message) {
  const caption = message.content?.trim();
  switch (message.type) {
    case 'image': return `📷 ${caption || t('msg.photo')}`;
    case 'voice': return `🎤 ${t('msg.voice')}`;
    case 'file': return `📎 ${caption || message.metadata?.name || t('msg.file')}`;
    default: return String(message.content || '').split('\n', 1)[0];
  }
}

// Only links that cannot run script: absolute http(s) URLs and this server's uploads.
export function safeUrl(url) {
  if (typeof url !== 'string') return null;
  return /^https?:\/\/\S+$/i.test(url) || /^\/api\/uploads\/[0-9a-f]+$/.test(url) ? url : null;
}
