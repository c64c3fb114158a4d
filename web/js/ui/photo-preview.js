// The look before photos go: the picked, pasted or dropped images as thumbnails (each with a
// remove button), a caption, Send and Cancel. Send shrinks each photo (images.js) and queues it as
// its own `image` message; several together carry `metadata.album` (one id, each one's place and
// the count) so the app shows them as one album while other clients still see every photo. The
// caption goes with the first.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t, tn } from '../i18n.js';
import { codePoints } from '../format.js';
import * as uploads from '../upload-queue.js';
import { prepare } from '../images.js';
import { openSheet } from './sheet.js';
import { toast } from './notify.js';

export const MAX_PHOTOS = 30;
const MAX_CAPTION = 4096;
const MAX_METADATA_BYTES = 4096;
const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;

const albumId = () => [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');

const bytesOf = (value) => new TextEncoder().encode(JSON.stringify(value)).length;

// What the message says about its photo, within the server's 4096 bytes (the url comes later).
function metadataOf(ready, album) {
  const metadata = { name: ready.name, size: ready.blob.size, contentType: ready.blob.type, width: ready.width, height: ready.height };
  if (album) metadata.album = album;
  // Room for the url the upload adds ("/api/uploads/" and 32 hex digits, quoted and named).
  const room = MAX_METADATA_BYTES - 64;
  if (ready.preview && bytesOf({ ...metadata, placeholder: ready.preview }) <= room) metadata.placeholder = ready.preview;
  if (bytesOf(metadata) > room) metadata.name = t('msg.photo');
  return metadata;
}

// Shrinks and queues `files` into `chatId` as one album, `caption` on the first; `extras` are the
// outbox's replyTo and mentions, which go with the first too.
export async function sendPhotos(chatId, files, caption, extras = {}) {
  const ready = [];
  for (const file of files) {
    try {
      ready.push(await prepare(file));
    } catch {
      toast(t('photos.unreadable', { name: file.name || t('msg.photo') }));
    }
  }
  const usable = ready.filter((photo) => {
    if (photo.blob.size <= MAX_UPLOAD_BYTES) return true;
    toast(t('composer.fileTooLarge'));
    return false;
  });
  const id = usable.length > 1 ? albumId() : null;
  usable.forEach((photo, index) => {
    const album = id ? { id, index, count: usable.length } : null;
    const first = index === 0;
    uploads.enqueue(chatId, photo.blob, {
      type: 'image',
      metadata: metadataOf(photo, album),
      content: first ? caption : '',
      ...(first ? extras : {}),
    });
  });
}

// Opens the preview for `files` (images only). `onSend(files, caption)` runs on Send.
export function openPhotoPreview(files, { onSend }) {
  let photos = files.slice(0, MAX_PHOTOS).map((file) => ({ file, url: URL.createObjectURL(file) }));
  if (files.length > MAX_PHOTOS) toast(t('photos.tooMany', { max: MAX_PHOTOS }));
  const grid = h('div', { class: 'photo-preview-grid', 'data-testid': 'photo-preview-list' });
  const caption = h('textarea', {
    class: 'input photo-caption', rows: 1, dir: 'auto', 'data-testid': 'photo-caption',
    'aria-label': t('photos.caption'), placeholder: t('photos.caption'),
  });
  const send = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'photo-send' }, icon('send'), h('span', null, t('composer.send')));
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'photo-cancel' }, t('photos.cancel'));
  const sheet = openSheet({
    label: t('photos.title'),
    title: t('photos.title'),
    testid: 'photo-preview',
    className: 'photo-preview-sheet',
    content: [grid, h('div', { class: 'photo-preview-foot' }, caption, h('div', { class: 'photo-preview-buttons' }, cancel, send))],
  });

  function render() {
    grid.replaceChildren(...photos.map((photo, index) => h('div', { class: 'photo-preview-item', 'data-testid': 'photo-preview-item' },
      h('img', { src: photo.url, alt: photo.file.name || t('msg.photo') }),
      h('button', {
        type: 'button',
        class: 'photo-preview-remove',
        'data-testid': 'photo-remove',
        'aria-label': t('photos.remove', { n: index + 1 }),
        title: t('photos.remove', { n: index + 1 }),
        onclick: () => {
          URL.revokeObjectURL(photo.url);
          photos = photos.filter((other) => other !== photo);
          if (photos.length) render();
          else sheet.close();
        },
      }, icon('close')))));
    send.setAttribute('aria-label', tn('photos.send', photos.length));
  }

  send.addEventListener('click', () => {
    const text = caption.value.trim();
    if (codePoints(text) > MAX_CAPTION) {
      toast(t('composer.tooLong', { max: MAX_CAPTION }));
      return;
    }
    const chosen = photos.map((photo) => photo.file);
    sheet.close();
    onSend(chosen, text);
  });
  cancel.addEventListener('click', () => sheet.close());
  caption.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send.click();
    }
  });
  sheet.dialog.addEventListener('close', () => {
    for (const photo of photos) URL.revokeObjectURL(photo.url);
  });
  render();
  caption.focus();
  return sheet;
}

// Files dragged over `target` light it up; dropped images open the preview (`onFiles(files)`).
export function acceptDroppedPhotos(target, onFiles) {
  let depth = 0;
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes('Files');
  target.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    target.classList.add('drop-target');
  });
  target.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  target.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) target.classList.remove('drop-target');
  });
  target.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    target.classList.remove('drop-target');
    onFiles(event.dataTransfer.files);
  });
}
