// The offline page (../offline.html) in the app's language, and back to what was asked for as soon
// as the network returns. Its "Try again" is a plain link to the same address, so it works without
// this script too.
import { t } from './i18n.js';

for (const [id, key] of [['offline-title', 'offline.title'], ['offline-text', 'offline.text'], ['offline-retry', 'common.tryAgain']]) {
  document.getElementById(id).textContent = t(key);
}
window.addEventListener('online', () => window.location.reload());
