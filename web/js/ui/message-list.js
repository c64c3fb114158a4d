// The scrolling history of one chat. It renders incrementally (bubbles are reused by key), keeps
// the reader's place when older pages load above, follows new messages only when the reader is
// at the bottom, loads older pages on scrolling up, announces incoming messages, and brings one
// message into view on request (a reply's original, a pinned message), loading history back to it.
import { h, patch } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import * as sync from '../sync.js';
import * as uploads from '../upload-queue.js';
import * as people from '../people.js';
import { clock, dayKey, dayLabel, summary } from '../format.js';
import { errorText } from '../errors.js';
import { bubble } from './message-bubble.js';
import { foldAlbums } from './album.js';
import { announce, toast } from './notify.js';

const RUN_GAP_MS = 5 * 60_000; // messages further apart than this start a new visual run
const STICK_PX = 80;
const LOAD_OLDER_PX = 300;
const JUMP_PX = 400;
const FLASH_MS = 1_600;

const keyOf = (m) => (m.clientId ? `c:${m.senderId}:${m.clientId}` : `i:${m.id}`);

function sameRun(a, b) {
  return Boolean(a && b) && a.senderId === b.senderId && dayKey(a.createdAt) === dayKey(b.createdAt)
    && Math.abs(Date.parse(b.createdAt) - Date.parse(a.createdAt)) < RUN_GAP_MS;
}

// `handlers`: onMenu(message, anchor), onReact(message, emoji); a quote's tap is handled here.
export function mountMessageList(chatId, handlers = {}) {
  const el = h('div', { class: 'messages', 'data-testid': 'message-list', role: 'region', 'aria-label': t('conv.messages'), tabindex: 0 });
  const jump = h('button', { type: 'button', class: 'jump', hidden: true, 'aria-label': t('conv.jump'), onclick: () => toEnd('smooth') }, icon('down'));
  const cache = new Map(); // key → { signature, el }
  let stuck = true; // the reader is at the newest message
  let rendered = false;
  let oldestSeq = null;
  let pendingCount = 0;
  let announcedSeq = null;

  function toEnd(behavior = 'auto') {
    el.scrollTo({ top: el.scrollHeight, behavior });
  }

  function onMediaLoad() {
    if (stuck) toEnd();
  }

  function reuse(key, signature, build) {
    const hit = cache.get(key);
    if (hit?.signature === signature) return hit.el;
    const made = build();
    cache.set(key, { signature, el: made });
    return made;
  }

  function statusNode(b) {
    if (b.error) {
      return h('div', { class: 'list-status' }, h('p', null, errorText(b.error)),
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => sync.loadHistory(chatId) }, t('common.tryAgain')));
    }
    if (!b.loaded) return h('div', { class: 'list-status muted' }, t('conv.loading'));
    if (b.hasOlder || b.loadingOlder) return h('div', { class: 'list-status muted' }, t('conv.loadingOlder'));
    return null;
  }

  function statusOf(chat, m) {
    if (m.seq == null) return m.failed ? 'failed' : 'sending';
    if (!chat) return 'sent';
    if (store.isRead(chat, m)) return 'read';
    return store.isDelivered(chat, m) ? 'delivered' : 'sent';
  }

  // The names a bubble highlights: each mentioned person's "@Name" as it was typed.
  function mentionsOf(m, me) {
    return (m.mentions || []).map((id) => ({ name: people.nameOf(id), me: id === me }));
  }

  function messageNodes(chat, items) {
    const me = store.state.me?.id;
    const group = chat?.type === 'group';
    const nodes = [];
    items.forEach((m, i) => {
      const prev = items[i - 1];
      if (!prev || dayKey(prev.createdAt) !== dayKey(m.createdAt)) {
        const label = dayLabel(m.createdAt);
        nodes.push(reuse(`day:${dayKey(m.createdAt)}`, label, () => h('div', { class: 'day', role: 'separator' }, h('span', null, label))));
      }
      const own = m.senderId === me;
      const first = !sameRun(prev, m);
      const last = !sameRun(m, items[i + 1]);
      const senderName = group && !own && first ? people.nameOf(m.senderId) : '';
      const status = own ? statusOf(chat, m) : null;
      const mentions = mentionsOf(m, me);
      const replyName = m.replyTo ? people.nameOf(m.replyTo.senderId) : '';
      const reactors = (m.reactions || []).map((r) => r.userIds.map(people.nameOf));
      const signature = JSON.stringify([m.id, m.seq, m.rev, m.content, m.type, m.metadata, status, first, last, senderName,
        clock(m.createdAt), m.editedAt, m.deletedAt, m.hidden, m.pinned, m.forwarded, m.replyTo, replyName, mentions, m.reactions, reactors,
        m.albumMessages?.map((a) => [a.id, a.clientId, a.seq, a.rev, a.metadata, a.failed, a.upload])]);
      nodes.push(reuse(keyOf(m), signature, () => bubble(m, {
        own, first, last, senderName, status, mentions, replyName, me, onMediaLoad,
        nameOf: people.nameOf,
        onMenu: m.seq != null && !m.hidden ? (anchor) => handlers.onMenu?.(store.findMessage(chatId, m.seq) || m, anchor) : null,
        onQuote: showSeq,
        onReact: (emoji) => handlers.onReact?.(store.findMessage(chatId, m.seq) || m, emoji),
        onRetry: () => uploads.retryFailed(m),
        onDiscard: () => uploads.discardFailed(m),
      })));
    });
    return nodes;
  }

  function announceNew(items) {
    const me = store.state.me?.id;
    const newest = items.filter((m) => m.seq != null).at(-1)?.seq ?? 0;
    if (announcedSeq !== null) {
      for (const m of items) {
        if (m.seq > announcedSeq && m.senderId !== me) announce(t('conv.announce', { name: people.nameOf(m.senderId), text: summary(m) }));
      }
    }
    announcedSeq = Math.max(announcedSeq ?? 0, newest);
  }

  function render() {
    const b = store.box(chatId);
    const chat = store.state.chats.get(chatId);
    // An album's photos show as one bubble.
    const items = foldAlbums([...b.messages, ...b.pending]);
    const nodes = [statusNode(b)].filter(Boolean);
    if (b.loaded && !items.length) nodes.push(h('div', { class: 'list-status muted' }, t('conv.empty')));
    nodes.push(...messageNodes(chat, items));

    const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight;
    patch(el, nodes);
    const live = new Set(nodes);
    for (const [key, entry] of cache) if (!live.has(entry.el)) cache.delete(key);

    const newOldest = b.messages[0]?.seq ?? null;
    const sentOne = b.pending.length > pendingCount;
    if (!rendered && items.length && el.clientHeight) {
      toEnd();
      rendered = true;
    } else if (oldestSeq !== null && newOldest !== null && newOldest < oldestSeq) {
      // Older page added above: keep the same distance from the bottom, so nothing jumps.
      el.scrollTop = el.scrollHeight - el.clientHeight - fromBottom;
    } else if (stuck || sentOne) {
      toEnd();
    }
    oldestSeq = newOldest;
    pendingCount = b.pending.length;
    if (b.loaded) announceNew(b.messages);
    maybeLoadOlder(b);
  }

  // Scrolls `seq` into the middle of the view and highlights it a moment, loading older pages
  // until it is there; says so when it is not there any more.
  async function showSeq(seq) {
    const found = await sync.loadBackTo(chatId, seq);
    render();
    const target = found && el.querySelector(`[data-testid="message"][data-seq="${seq}"]`);
    if (!target || target.dataset.hidden) {
      toast(t('reply.missing'));
      return;
    }
    target.scrollIntoView({ block: 'center', behavior: 'smooth' });
    target.classList.remove('flash');
    // Restart the animation even when the same message is shown twice in a row.
    void target.offsetWidth;
    target.classList.add('flash');
    setTimeout(() => target.classList.remove('flash'), FLASH_MS);
  }

  function maybeLoadOlder(b = store.box(chatId)) {
    if (!b.loaded || !b.hasOlder || b.loadingOlder || !el.clientHeight) return;
    if (el.scrollTop < LOAD_OLDER_PX) sync.loadOlder(chatId);
  }

  // The pane shrinks when a phone keyboard opens; keep the newest message in view.
  const resizes = new ResizeObserver(() => {
    if (stuck) toEnd();
  });
  resizes.observe(el);

  el.addEventListener('scroll', () => {
    const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight;
    stuck = fromBottom < STICK_PX;
    jump.hidden = fromBottom < JUMP_PX;
    maybeLoadOlder();
  }, { passive: true });

  return { el, jump, render, showSeq, destroy: () => resizes.disconnect() };
}
