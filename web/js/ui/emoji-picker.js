// The composer's emoji picker: a small panel of common emoji in a few categories, plain Unicode
// (no images, no network), drawn with the system's colour-emoji font. Arrow keys move through the
// grid, Home/End jump to its ends, Enter or a click inserts at the text box's cursor, Escape closes
// and returns to the text box. Category tabs switch with a click or Left/Right.
import { h } from '../dom.js';
import { t } from '../i18n.js';

const CATEGORIES = [
  ['smileys', '😀😃😄😁😆😅😂🤣🙂😉😊😇🥰😍🤩😘😋😛😜🤪🤗🤭🤔🤐😐😑😶😏😒🙄😬😌😔😪😴😷🤒🤧🥵🥶😎🤓😕😟🙁😮😲😳🥺😢😭😱😤😡🤯'],
  ['people', '👍👎👌✌️🤞🤟🤘👋🙌👏🙏💪👀🫶🤝✍️👶🧒👦👧🧑👨👩🧓👴👵🙋🤷🤦🙇💃🕺👪'],
  ['nature', '🐶🐱🐭🐰🦊🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧🐦🐤🦆🦉🐝🦋🐢🐍🐟🐬🐳🌸🌹🌻🌴🌵🍀🍁🌈☀️⛅🌧️⚡❄️🔥🌊'],
  ['food', '🍎🍊🍋🍌🍉🍇🍓🥭🍍🥥🥑🍅🌶️🌽🥕🍞🧀🍳🍗🍔🍟🍕🌭🌮🍜🍝🍣🍚🍛🍰🎂🍩🍪🍫☕🍵🥤🍺'],
  ['activities', '⚽🏀🏈⚾🎾🏐🏓🏸🥅⛳🎣🚴🏊🏃🎮🎲🎯🎸🎹🎤🎧🎬🎨🎉🎊🎁🎈🏆🥇📷💡📚✈️🚗🏠⏰📱💻'],
  ['symbols', '❤️🧡💛💚💙💜🖤🤍💔💕💯✅❌❓❗⭐✨💤💬👋🆗🆕🔔🎵➕➖✔️🔴🟢🔵⚠️'],
];

// One emoji per grapheme cluster, so "✌️" (with its variation selector) stays whole.
const splitter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const graphemes = (text) => [...splitter.segment(text)].map((s) => s.segment);

const COLUMNS = 8;

// `textarea`: where emoji go. Returns { button, panel, close, isOpen }; the caller places both.
export function emojiPicker(textarea, { onInsert } = {}) {
  const grid = h('div', { class: 'emoji-grid', role: 'grid', 'aria-label': t('emoji.title') });
  const tabs = h('div', { class: 'emoji-tabs', role: 'tablist', 'aria-label': t('emoji.categories') });
  const panel = h('div', { class: 'emoji-panel', 'data-testid': 'emoji-panel', role: 'dialog', 'aria-label': t('emoji.title'), hidden: true }, tabs, grid);
  const button = h('button', {
    type: 'button',
    class: 'icon-btn emoji-btn',
    'data-testid': 'emoji-button',
    'aria-label': t('emoji.open'),
    title: t('emoji.open'),
    'aria-expanded': 'false',
    'aria-haspopup': 'dialog',
    onclick: () => (panel.hidden ? open() : close(true)),
  }, '🙂');
  let category = 0;
  let active = 0;

  const cells = () => [...grid.querySelectorAll('.emoji-cell')];

  function focusCell(index) {
    const all = cells();
    active = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((cell, i) => cell.setAttribute('tabindex', i === active ? '0' : '-1'));
    all[active]?.focus();
  }

  function showCategory(index, focus = false) {
    category = (index + CATEGORIES.length) % CATEGORIES.length;
    [...tabs.children].forEach((tab, i) => {
      tab.setAttribute('aria-selected', String(i === category));
      tab.setAttribute('tabindex', i === category ? '0' : '-1');
    });
    const list = graphemes(CATEGORIES[category][1]);
    const rows = [];
    for (let i = 0; i < list.length; i += COLUMNS) {
      rows.push(h('div', { role: 'row', class: 'emoji-row' }, list.slice(i, i + COLUMNS).map((emoji, j) => h('button', {
        type: 'button',
        role: 'gridcell',
        class: 'emoji-cell',
        'data-testid': 'emoji',
        tabindex: i + j === 0 ? '0' : '-1',
        onclick: () => insert(emoji),
      }, emoji))));
    }
    grid.replaceChildren(...rows);
    active = 0;
    if (focus) tabs.children[category].focus();
  }

  function insert(emoji) {
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? start;
    textarea.setRangeText(emoji, start, end, 'end');
    textarea.dispatchEvent(new Event('input', { bubbles: true }));
    onInsert?.();
  }

  function open() {
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    showCategory(category);
    focusCell(0);
    document.addEventListener('pointerdown', onOutside, true);
  }

  // `back`: return to the text box (closing from the keyboard or the button).
  function close(back = false) {
    if (panel.hidden) return;
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    if (back) textarea.focus();
  }

  function onOutside(event) {
    if (!panel.contains(event.target) && !button.contains(event.target)) close();
  }

  tabs.append(...CATEGORIES.map(([key, list], i) => h('button', {
    type: 'button',
    role: 'tab',
    class: 'emoji-tab',
    'aria-label': t(`emoji.${key}`),
    title: t(`emoji.${key}`),
    onclick: () => showCategory(i),
  }, graphemes(list)[0])));

  tabs.addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (step) {
      event.preventDefault();
      showCategory(category + step, true);
    } else if (event.key === 'ArrowDown') {
      event.preventDefault();
      focusCell(0);
    }
  });

  grid.addEventListener('keydown', (event) => {
    const count = cells().length;
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    if (event.key in moves) {
      event.preventDefault();
      const next = active + moves[event.key];
      if (next < 0 && event.key === 'ArrowUp') tabs.children[category].focus();
      else focusCell(Math.min(next, count - 1));
    } else if (event.key === 'Home' || event.key === 'End') {
      event.preventDefault();
      focusCell(event.key === 'Home' ? 0 : count - 1);
    }
  });

  panel.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    event.stopPropagation();
    close(true);
  });

  showCategory(0);
  return { button, panel, close, isOpen: () => !panel.hidden };
}
