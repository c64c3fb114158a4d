// The photo viewer: the full-size photo in a modal <dialog> over everything, with its name, a
// download link and a close button. Escape, the close button, a click beside the photo or the
// browser's Back close it; the dialog then gives focus back to the thumbnail that opened it.
// While it is open it has a history entry of its own, so Back on a phone closes only the viewer.
import { h } from '../dom.js';
import * as router from '../router.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';

let leaveEntry = null; // takes the open viewer's history entry back

export function openImage({ src, name, download = true }) {
  // A viewer replacing an open one keeps its history entry.
  const previous = document.querySelector('dialog.lightbox[open]');
  if (previous) {
    previous.dataset.handover = 'true';
    previous.close();
  } else leaveEntry = router.pushOverlay();

  const img = h('img', { class: 'lightbox-img', src, alt: name, decoding: 'async' });
  const stage = h('div', { class: 'lightbox-stage' }, img);
  const close = h('button', { type: 'button', class: 'lightbox-btn', 'data-testid': 'lightbox-close', 'aria-label': t('viewer.close'), title: t('viewer.close'), autofocus: true }, icon('close'));
  const save = download
    ? h('a', { class: 'lightbox-btn', href: src, download: name, 'aria-label': t('viewer.download'), title: t('viewer.download') }, icon('download'))
    : h('a', { class: 'lightbox-btn', href: src, target: '_blank', rel: 'noopener noreferrer', 'aria-label': t('viewer.open'), title: t('viewer.open') }, icon('external'));
  const dialog = h('dialog', { class: 'lightbox', 'data-testid': 'lightbox', 'aria-label': name },
    h('div', { class: 'lightbox-bar' }, h('span', { class: 'lightbox-name' }, name), save, close),
    stage);

  img.addEventListener('load', () => dialog.classList.add('loaded'));
  img.addEventListener('error', () => dialog.classList.add('broken'));
  close.addEventListener('click', () => dialog.close());
  // A click on the dark area (not on the photo or the bar's controls) closes.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog || event.target === stage) dialog.close();
  });
  let wentBack = false;
  const onBack = () => {
    wentBack = true;
    dialog.close();
  };
  window.addEventListener('popstate', onBack);
  dialog.addEventListener('close', () => {
    window.removeEventListener('popstate', onBack);
    if (!wentBack && !dialog.dataset.handover) leaveEntry?.();
    if (!dialog.dataset.handover) leaveEntry = null;
    dialog.remove();
  });

  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}
