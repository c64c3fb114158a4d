// Message search under the chat list's search box: once the box holds a word, the messages of
// every chat that match it (GET /api/search), newest first, grouped under their chat, the matched
// words marked. Choosing one opens its chat scrolled to that message (the open conversation
// loads older pages back to it, see watchMatches).
import { h } from '../dom.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import * as store from '../store.js';
import * as router from '../router.js';
import * as people from '../people.js';
import { listTime } from '../format.js';
import { errorText } from '../errors.js';

const DEBOUNCE_MS = 250;
const PAGE_SIZE = 20;
// Characters of a long message shown before the first match.
const SNIPPET_LEAD = 40;
const SNIPPET_CHARS = 160;

// Scripts written without spaces: a query of one of their characters is worth sending, and their
// matches may start anywhere, not only at the start of a word.
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
const WORD_CHAR = /[\p{L}\p{N}\p{M}]/u;
const ACCENTS = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g;

// Chat id → seq to show once that chat's conversation opens; and the open conversations.
const pending = new Map();
const watchers = new Map();

// The server's folding, near enough to mark matches: width, case and accents away.
const fold = (text) => text.normalize('NFKD').replace(ACCENTS, '').toLowerCase();

// The query's words, folded, as the server cuts them (spaces and punctuation part words).
export function queryTerms(query) {
  return fold(query).split(/[^\p{L}\p{N}\p{M}]+/u).filter(Boolean);
}

// [start, end) ranges of `text` (UTF-16 indexes) where a term matches: at the start of a word,
// anywhere for scripts without spaces; a one-letter term only as a whole word.
export function matchRanges(text, terms) {
  let folded = '';
  const starts = []; // for each UTF-16 unit of `folded`, where its character is in `text`
  const ends = [];
  let at = 0;
  for (const char of text) {
    const piece = fold(char);
    for (let i = 0; i < piece.length; i += 1) {
      starts.push(at);
      ends.push(at + char.length);
    }
    folded += piece;
    at += char.length;
  }
  const ranges = [];
  for (const term of terms) {
    const anywhere = UNSPACED.test(term);
    const whole = Array.from(term).length === 1 && !anywhere;
    for (let at = folded.indexOf(term); at !== -1; at = folded.indexOf(term, at + 1)) {
      const end = at + term.length;
      if (!anywhere && at > 0 && WORD_CHAR.test(folded[at - 1])) continue;
      if (whole && end < folded.length && WORD_CHAR.test(folded[end])) continue;
      ranges.push([starts[at], ends[end - 1]]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push([...range]);
  }
  return merged;
}

// `text` with its matches in <mark>, cut to a snippet around the first one.
function highlighted(text, terms) {
  const ranges = matchRanges(text, terms);
  let start = 0;
  if (ranges.length && ranges[0][0] > SNIPPET_LEAD && text.length > SNIPPET_CHARS) start = ranges[0][0] - SNIPPET_LEAD;
  const end = Math.min(text.length, start + SNIPPET_CHARS);
  const parts = start ? ['…'] : [];
  let at = start;
  for (const [from, to] of ranges) {
    if (to <= at || from >= end) continue;
    if (from > at) parts.push(text.slice(at, from));
    parts.push(h('mark', { class: 'search-mark' }, text.slice(Math.max(from, at), Math.min(to, end))));
    at = Math.min(to, end);
  }
  if (at < end) parts.push(text.slice(at, end));
  if (end < text.length) parts.push('…');
  return parts;
}

// What a result is found by: its text, and an attachment's file name.
function searchable(message) {
  const name = message.type !== 'text' ? message.metadata?.name : null;
  return [message.content, name].filter(Boolean).join(' · ');
}

function chatName(chat) {
  const known = store.state.chats.get(chat.id);
  if (known) return people.chatTitle(known);
  return chat.name || t('search.chat');
}

// Shows `seq` in `chatId`: in its conversation when that is open, else once it opens.
function openMatch(chatId, seq) {
  const show = watchers.get(chatId);
  if (show && router.current().chatId === chatId) {
    show(seq);
    return;
  }
  pending.set(chatId, seq);
  router.navigate(`/chat/${chatId}`, { replace: Boolean(router.current().chatId) });
}

// Called by an open conversation: shows a match chosen before it opened, and any chosen while it
// is open, with `showSeq` once its history is loaded. Returns the function that stops it.
export function watchMatches(chatId, showSeq) {
  const show = async (seq) => {
    await loaded(chatId);
    showSeq(seq);
  };
  watchers.set(chatId, show);
  if (pending.has(chatId)) {
    const seq = pending.get(chatId);
    pending.delete(chatId);
    show(seq);
  }
  return () => {
    if (watchers.get(chatId) === show) watchers.delete(chatId);
  };
}

function loaded(chatId) {
  if (store.box(chatId).loaded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      off();
      clearTimeout(timer);
      resolve();
    };
    const off = store.on('messages', (id) => {
      if (id === chatId && store.box(chatId).loaded) done();
    });
    const timer = setTimeout(done, 10_000);
  });
}

function worthSearching(query) {
  return Array.from(query).length >= 2 || UNSPACED.test(query);
}

// Mounts the results for `input` (the chat list's search box); returns { el, destroy }.
export function mountMessageSearch(input) {
  const heading = h('h2', { class: 'search-heading' }, t('search.messages'));
  const list = h('div', { class: 'search-results', 'data-testid': 'search-results' });
  const status = h('p', { class: 'muted search-status', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'btn btn-secondary search-more', 'data-testid': 'search-more', hidden: true }, t('search.more'));
  const el = h('section', { class: 'search-found', 'aria-label': t('search.messages'), hidden: true }, heading, list, status, more);

  let query = '';
  let next = null;
  let timer = null;
  let generation = 0; // answers to an earlier query are dropped
  let lastGroup = null;

  function resultItem(result, terms) {
    const { message } = result;
    const mine = message.senderId === store.state.me?.id;
    const who = mine ? t('search.you') : people.firstName(message.senderId);
    return h('button', {
      type: 'button',
      class: 'search-result',
      'data-testid': 'search-result',
      'data-chat-id': result.chat.id,
      'data-seq': String(message.seq),
      onclick: () => openMatch(result.chat.id, message.seq),
    },
    h('span', { class: 'chat-item-row' },
      h('span', { class: 'search-sender', dir: 'auto' }, who),
      h('time', { class: 'chat-item-time', datetime: message.createdAt }, listTime(message.createdAt))),
    h('span', { class: 'search-text', dir: 'auto' }, ...highlighted(searchable(message), terms)));
  }

  function append(results) {
    const terms = queryTerms(query);
    for (const result of results) {
      if (lastGroup?.chatId !== result.chat.id) {
        const items = h('div', { class: 'search-group-items' });
        list.append(h('div', { class: 'search-group', 'data-testid': 'search-group' },
          h('h3', { class: 'search-chat', dir: 'auto' }, chatName(result.chat)), items));
        lastGroup = { chatId: result.chat.id, items };
      }
      lastGroup.items.append(resultItem(result, terms));
    }
  }

  async function load(onward) {
    const mine = ++generation;
    const params = new URLSearchParams({ q: query, limit: String(PAGE_SIZE) });
    if (onward && next) params.set('before', next);
    status.textContent = t('search.searching');
    try {
      const page = await api.get(`/api/search?${params}`);
      if (mine !== generation) return;
      append(page.results);
      next = page.next;
      // A page may come back short while more is left: ask on until one has something.
      if (!list.childElementCount && next) return load(true);
      const found = list.childElementCount ? '' : t('search.none', { query });
      // The server is still indexing (an upgrade's backlog): say so beside what was found.
      status.textContent = page.partial ? [found, t('search.partial')].filter(Boolean).join(' ') : found;
      moreButton(next);
    } catch (err) {
      if (mine !== generation) return;
      status.textContent = errorText(err);
      moreButton(null);
    }
  }

  function moreButton(cursor) {
    more.hidden = !cursor;
  }

  function start() {
    clearTimeout(timer);
    const wanted = input.value.trim();
    if (wanted === query) return;
    query = wanted;
    generation += 1;
    list.replaceChildren();
    lastGroup = null;
    next = null;
    moreButton(null);
    el.hidden = !worthSearching(query);
    status.textContent = '';
    if (el.hidden) return;
    status.textContent = t('search.searching');
    timer = setTimeout(() => load(false), DEBOUNCE_MS);
  }

  more.addEventListener('click', () => load(true));
  input.addEventListener('input', start);
  start();

  return {
    el,
    destroy() {
      clearTimeout(timer);
      generation += 1;
      input.removeEventListener('input', start);
    },
  };
}
