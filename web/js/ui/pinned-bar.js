// The strip under a chat's header that shows its most recently pinned message. Tapping it brings
// that message into view; with several pinned, each tap then moves the strip on to the next older
// one ("2 of 3"), round and round.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import * as sync from '../sync.js';
import { kindIcon, summary } from '../format.js';

// `show(seq)`: brings a message into view (the message list's showSeq).
export function mountPinnedBar(chatId, show) {
  let index = 0;
  let shown = null;
  const label = h('span', { class: 'pinned-label' });
  const text = h('span', { class: 'pinned-text', dir: 'auto' });
  const el = h('button', {
    type: 'button',
    class: 'pinned-bar',
    'data-testid': 'pinned-bar',
    hidden: true,
    onclick: () => {
      if (!shown) return;
      show(shown.seq);
      index += 1;
      render();
    },
  }, icon('pin', 'icon pinned-icon'), h('span', { class: 'pinned-body' }, label, text));

  function render() {
    const pins = store.pinsOf(chatId).filter((m) => !m.deletedAt && !m.hidden);
    el.hidden = pins.length === 0;
    if (!pins.length) {
      shown = null;
      return;
    }
    index %= pins.length;
    shown = pins[index];
    label.textContent = pins.length > 1 ? t('pins.labelOf', { i: index + 1, n: pins.length }) : t('pins.label');
    const kind = kindIcon(shown);
    text.replaceChildren(...[kind ? icon(kind, 'icon preview-kind') : null, summary(shown) || t('msg.photo')].filter(Boolean));
    el.dataset.seq = shown.seq;
    el.setAttribute('aria-label', t('pins.goTo', { text: summary(shown) }));
  }

  const off = store.on('pins', (id) => {
    if (id === chatId) render();
  });
  sync.loadPins(chatId);
  render();
  return { el, destroy: off };
}
