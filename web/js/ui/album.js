// Albums: photos sent together (each its own `image` message carrying `metadata.album`) shown as
// one bubble with a grid: two side by side; three as one large over two; four or more as two by
// two, the last tile saying how many more there are. A tap opens the viewer on that photo, and
// the viewer moves through the whole album (arrows, arrow keys, a swipe).
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { safeUrl } from '../format.js';
import { placeholderOf } from '../images.js';
import * as uploads from '../upload-queue.js';
import { openImage } from './lightbox.js';
import { withUploadProgress } from './upload-bubble.js';

const SHOWN = 4;
const SWIPE_PX = 50;

function albumOf(message) {
  if (message.type !== 'image' || message.deletedAt || message.hidden) return null;
  const album = message.metadata?.album;
  return album && typeof album.id === 'string' ? album : null;
}

// `items` (a chat's messages in order) with each run of one sender's consecutive photos of one
// album folded into its first message, which gets `albumMessages` (all of them, in order). The
// folded message has no seq while any photo of it is unsent, and counts as failed when one failed.
export function foldAlbums(items) {
  const out = [];
  for (const message of items) {
    const album = albumOf(message);
    const previous = out.at(-1);
    if (album && previous?.albumMessages && previous.senderId === message.senderId && albumOf(previous).id === album.id) {
      previous.albumMessages.push(message);
      if (message.seq == null) previous.seq = null;
      if (message.failed) previous.failed = true;
      continue;
    }
    out.push(album ? { ...message, albumMessages: [message] } : message);
  }
  return out.map((m) => (m.albumMessages?.length === 1 ? m.albumMessages[0] : m));
}

function sourceOf(message) {
  if (message.upload) return uploads.previewOf(message.clientId);
  return safeUrl(message.metadata?.url);
}

// The viewer on `entries[index]` ({ src, name, download }), with the way to the others.
export function openAlbumViewer(entries, index) {
  let at = index;
  const dialog = openImage(entries[at]);
  if (entries.length < 2) return dialog;
  const img = dialog.querySelector('.lightbox-img');
  const name = dialog.querySelector('.lightbox-name');
  const save = dialog.querySelector('.lightbox-bar a');
  const count = h('span', { class: 'lightbox-count', 'data-testid': 'lightbox-position' });
  const show = (next) => {
    at = (next + entries.length) % entries.length;
    const entry = entries[at];
    dialog.classList.remove('loaded', 'broken');
    img.src = entry.src;
    img.alt = entry.name;
    if (name) name.textContent = entry.name;
    dialog.setAttribute('aria-label', entry.name);
    if (save) {
      save.href = entry.src;
      if (save.hasAttribute('download')) save.setAttribute('download', entry.name);
    }
    count.textContent = t('viewer.position', { n: at + 1, count: entries.length });
    dialog.dataset.index = String(at);
  };
  const step = (delta, label, testid, className) => h('button', {
    type: 'button',
    class: `lightbox-btn lightbox-nav ${className}`,
    'data-testid': testid,
    'aria-label': label,
    title: label,
    onclick: (event) => {
      event.stopPropagation();
      show(at + delta);
    },
  }, icon('chevron'));
  name?.after(count);
  dialog.querySelector('.lightbox-stage')?.append(
    step(-1, t('viewer.previous'), 'lightbox-previous', 'is-previous'),
    step(1, t('viewer.next'), 'lightbox-next', 'is-next'));
  dialog.addEventListener('keydown', (event) => {
    const forward = document.dir === 'rtl' ? -1 : 1;
    if (event.key === 'ArrowRight') show(at + forward);
    else if (event.key === 'ArrowLeft') show(at - forward);
  });
  let start = null;
  dialog.addEventListener('pointerdown', (event) => {
    start = { x: event.clientX, y: event.clientY };
  });
  dialog.addEventListener('pointerup', (event) => {
    if (!start) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    start = null;
    if (Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy) * 1.5) show(at + (dx < 0 ? 1 : -1));
  });
  show(at);
  return dialog;
}

function tile(message, index, { entries, hidden, onMediaLoad }) {
  const src = sourceOf(message);
  const meta = message.metadata || {};
  const name = meta.name || t('msg.photo');
  const placeholder = placeholderOf(meta);
  const img = src ? h('img', { class: 'album-img', src, alt: name, decoding: 'async' }) : null;
  const button = h('button', {
    type: 'button',
    class: 'album-tile loading',
    'data-testid': 'album-tile',
    'aria-label': t('msg.openPhoto', { name }),
    onclick: (event) => {
      event.stopPropagation();
      const at = entries.findIndex((entry) => entry.message === message);
      if (at >= 0) openAlbumViewer(entries, at);
    },
  },
  img,
  placeholder ? h('img', { class: 'album-placeholder', src: placeholder, alt: '', 'aria-hidden': 'true' }) : null,
  hidden ? h('span', { class: 'album-more', 'data-testid': 'album-more' }, `+${hidden}`) : null);
  img?.addEventListener('load', () => {
    button.classList.remove('loading');
    onMediaLoad?.();
  });
  img?.addEventListener('error', () => button.classList.add('broken'));
  return message.upload ? withUploadProgress(message, button) : button;
}

// The grid for a folded album message (see foldAlbums).
export function albumGrid(folded, onMediaLoad) {
  const members = folded.albumMessages;
  const entries = members
    .map((message) => ({ message, src: sourceOf(message), name: message.metadata?.name || t('msg.photo'), download: !message.upload }))
    .filter((entry) => entry.src);
  const shown = members.slice(0, SHOWN);
  const hidden = members.length - shown.length;
  const layout = members.length === 3 ? 'three' : `grid-${Math.min(members.length, SHOWN)}`;
  return h('div', { class: `album ${layout}`, 'data-testid': 'album', 'data-count': members.length },
    shown.map((message, index) => tile(message, index, { entries, hidden: index === SHOWN - 1 ? hidden : 0, onMediaLoad })));
}
