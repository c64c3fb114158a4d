// Small pieces the admin console's sections share: durations in words, a six-digit code spaced
// for reading aloud, and the text of the admin API's refusals.
import { t, tn } from '../../i18n.js';
import { errorText } from '../../errors.js';

const UNITS = [['days', 86_400], ['hours', 3_600], ['minutes', 60], ['seconds', 1]];

// "2 days", "1 hour 5 minutes": the two largest units that are not zero.
export function spokenDuration(seconds) {
  let left = Math.max(0, Math.floor(Number(seconds) || 0));
  if (!left) return tn('duration.seconds', 0);
  const parts = [];
  for (const [unit, size] of UNITS) {
    const count = Math.floor(left / size);
    if (!count) continue;
    parts.push(tn(`duration.${unit}`, count));
    left -= count * size;
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

// "482 913": a code in two groups of three, as people read it out.
export const spacedCode = (code) => String(code).replace(/^(\d{3})(\d{3})$/, '$1 $2');

// "4:59" until `expiresAt`, or null once it has passed.
export function countdown(expiresAt, now = Date.now()) {
  const left = Math.ceil((Date.parse(expiresAt) - now) / 1000);
  if (!(left > 0)) return null;
  return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
}

export const ADMIN_ERRORS = {
  last_admin: () => t('admin.users.lastAdmin'),
  forbidden: () => t('admin.notAdmin'),
};

export const adminError = (err) => errorText(err, ADMIN_ERRORS);
