// Turns failures into sentences that say what to do next. Screens pass overrides for the codes
// that mean something specific to them.
import { t } from './i18n.js';

const LINK_CODES = new Set(['network', 'offline', 'timeout', 'disconnected']);

export function errorText(err, overrides = {}) {
  const code = err?.code;
  const special = overrides[code];
  if (special) return typeof special === 'function' ? special(err) : special;
  if (LINK_CODES.has(code)) return t('error.network');
  switch (code) {
    case 'rate_limited': return t('error.rateLimited', { s: err.retryAfter ?? 30 });
    case 'validation_failed': return t('error.validation');
    case 'payload_too_large': return t('error.tooLarge');
    case 'forbidden': return t('error.forbidden');
    case 'not_found': return t('error.notFound');
    case 'unauthorized':
    case 'token_expired': return t('error.signedOut');
    default: return err?.status >= 500 ? t('error.server') : t('error.generic');
  }
}
