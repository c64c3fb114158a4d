// On plain http:// the browser keeps some features from the page (the microphone, notifications):
// a sheet says so and links to /join, where the server's secure address and how to trust it are.
import { h } from '../dom.js';
import { openSheet } from './sheet.js';

export function explainSecureAddress({ title, text, action, testid, linkTestid, anchor = null }) {
  openSheet({
    label: title,
    title,
    testid,
    className: 'note-sheet',
    anchor,
    content: [
      h('p', { class: 'help' }, text),
      h('a', { class: 'btn btn-primary btn-block', href: '/join', 'data-testid': linkTestid }, action),
    ],
  });
}
