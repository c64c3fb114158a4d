// A round avatar: the picture when there is a usable URL, else initials on a colour that is
// stable per person or group; optionally an online dot.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { initials, paletteIndex, safeUrl } from '../format.js';

export function avatar({ id, name, url, group = false, online = null }, size = 'md') {
  const letters = initials(name);
  const el = h('span', { class: `avatar avatar-${size} palette-${paletteIndex(id)}`, 'aria-hidden': 'true' },
    letters || icon(group ? 'group' : 'user'));
  const src = safeUrl(url);
  if (src) {
    const img = h('img', { src, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer', decoding: 'async' });
    img.addEventListener('error', () => img.remove());
    el.append(img);
  }
  if (online) el.append(h('span', { class: 'online-dot' }));
  return el;
}
