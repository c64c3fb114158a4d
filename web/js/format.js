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

const numberFormats = new Map();

function number(value, digits) {
  const key = `${locale()}:${digits}`;
  if (!numberFormats.has(key)) numberFormats.set(key, new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }));
  return numberFormats.get(key).format(value);
}

// "820 B", "48 KB", "2.4 MB": one decimal below ten units, none above, in the user's locale.
export function fileSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${number(value, value < 10 ? 1 : 0)} ${units[unit]}`;
}

// A length of time as a player's clock shows it, in whole seconds: "0:07", "2:45", "1:02:03".
// Anything that lasted at all counts as at least a second.
export function duration(ms) {
  const value = Math.max(0, Number(ms) || 0);
  const total = value > 0 ? Math.max(1, Math.floor(value / 1000)) : 0;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

// One line describing a message, for the chat list and screen-reader announcements.
export function summary(message) {
  if (message.hidden) return t('msg.hiddenByYou');
  if (message.deletedAt) return t('msg.deleted');
  const caption = message.content?.trim();
  switch (message.type) {
    case 'image': return caption || t('msg.photo');
    case 'voice': {
      const ms = message.metadata?.durationMs;
      return Number(ms) > 0 ? `${t('msg.voice')} (${duration(ms)})` : t('msg.voice');
    }
    case 'file': return caption || message.metadata?.name || t('msg.file');
    default: return String(message.content || '').split('\n', 1)[0];
  }
}

// The app's own icon for a message's kind, shown before its summary (an
// emoji would depend on the system's fonts); none for text.
export function kindIcon(message) {
  if (message.hidden || message.deletedAt) return null;
  return { image: 'camera', voice: 'mic', file: 'file' }[message.type] ?? null;
}

// Only links that cannot run script: absolute http(s) URLs and this server's uploads.
export function safeUrl(url) {
  if (typeof url !== 'string') return null;
  return /^https?:\/\/\S+$/i.test(url) || /^\/api\/uploads\/[0-9a-f]+$/.test(url) ? url : null;
}
