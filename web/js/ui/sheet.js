// A modal panel over the app (the message menu, forwarding, message info): a sheet along the
// bottom edge on phones, a card beside what opened it (or centred) on larger screens. It is a
// <dialog>, so focus stays inside and goes back when it closes; Escape, a click outside it and
// the browser's Back close it. Only one is open at a time.
import { h, isDesktop } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';

const GAP_PX = 6;
const EDGE_PX = 8;

// Puts the card next to `anchor`: below it, else above it, always inside the window.
function place(dialog, anchor) {
  const box = anchor.getBoundingClientRect();
  const width = dialog.offsetWidth;
  const height = dialog.offsetHeight;
  const left = Math.min(Math.max(EDGE_PX, box.right - width), window.innerWidth - width - EDGE_PX);
  let top = box.bottom + GAP_PX;
  if (top + height > window.innerHeight - EDGE_PX) top = box.top - height - GAP_PX;
  top = Math.min(Math.max(EDGE_PX, top), window.innerHeight - height - EDGE_PX);
  dialog.classList.add('anchored');
  // CSSOM, not a style attribute: the content security policy allows only the former.
  dialog.style.left = `${Math.round(left)}px`;
  dialog.style.top = `${Math.round(top)}px`;
}

export const sheetOpen = () => Boolean(document.querySelector('dialog.sheet[open]'));

// `title` (optional) shows as a heading with a close button; `content` is the body's nodes.
export function openSheet({ label, title = null, testid, className = '', anchor = null, content }) {
  document.querySelector('dialog.sheet[open]')?.close();
  const body = h('div', { class: 'sheet-body' }, content);
  const head = title
    ? h('div', { class: 'sheet-head' },
      h('h2', { class: 'sheet-title' }, title),
      h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'sheet-close', 'aria-label': t('viewer.close'), onclick: () => dialog.close() }, icon('close')))
    : null;
  const dialog = h('dialog', { class: `sheet ${className}`, 'data-testid': testid, 'aria-label': label }, head, body);

  // Only a press that began outside closes it: the finger that long-pressed a message to open
  // the menu lifts over the backdrop.
  let pressedOutside = false;
  dialog.addEventListener('pointerdown', (event) => {
    pressedOutside = event.target === dialog;
  });
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog && pressedOutside) dialog.close();
    pressedOutside = false;
  });
  const onBack = () => dialog.close();
  window.addEventListener('popstate', onBack);
  const previous = document.activeElement;
  dialog.addEventListener('close', () => {
    window.removeEventListener('popstate', onBack);
    dialog.remove();
    // The dialog gives focus back by itself, but Chromium can leave a text box it returns to
    // focused yet deaf to typing; focusing it afresh makes it take keys again.
    if (document.activeElement === previous && previous?.matches?.('input, textarea')) {
      previous.blur();
      previous.focus({ preventScroll: true });
    }
  });

  document.body.append(dialog);
  dialog.showModal();
  if (anchor && isDesktop() && anchor.isConnected) place(dialog, anchor);
  return {
    dialog,
    body,
    close: () => dialog.close(),
    isOpen: () => dialog.open,
  };
}
