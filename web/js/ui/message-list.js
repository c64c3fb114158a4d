// The scrolling history of one chat. It renders incrementally (bubbles are reused by key), keeps
// the reader's place when older pages load above, follows new messages only when the reader is
// at the bottom, loads older pages on scrolling up, announces incoming messages, and brings one
// message into view on request (a reply's original, a pinned message), loading history back to it.
import { h, patch } from '../dom.js';
import { icon } from '../icons.js';
import { t, tn } from '../i18n.js';
import * as store from '../store.js';
import * as sync from '../sync.js';
import * as uploads from '../upload-queue.js';
import * as people from '../people.js';
import { clock, dayKey, dayLabel, summary } from '../format.js';
import { errorText } from '../errors.js';
import { firstUnreadSeq } from '../unread.js';
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
  const badge = h('span', { class: 'jump-badge', 'data-testid': 'jump-unread', 'aria-hidden': 'true', hidden: true });
  const jump = h('button', { type: 'button', class: 'jump', 'data-testid': 'jump', hidden: true, 'aria-label': t('conv.jump'), onclick: jumpToEnd }, icon('down'), badge);
  const cache = new Map(); // key → { signature, el }
  let stuck = true; // the reader is at the newest message
  let jumping = false; // on the way down after "jump to latest", until the bottom is reached
  // Unread when the chat was opened (the count is cleared as soon as it is on screen): the
  // divider goes above the first of them, and the chat opens there.
  const unreadAtOpen = store.state.chats.get(chatId)?.unreadCount || 0;
  let dividerSeq = null;
  let belowSeq = null; // the newest message the reader has seen arrive at the bottom
  let below = 0; // messages from others that arrived below the view
  let rendered = false;
  let oldestSeq = null;
  let pendingCount = 0;
  let announcedSeq = null;

  function toEnd(behavior = 'auto') {
    el.scrollTo({ top: el.scrollHeight, behavior });
  }

  // A smooth scroll is cut short when an older page lands above mid-way (the list then keeps the
  // distance from the bottom); `jumping` makes every render until the bottom finish the trip.
  function jumpToEnd() {
    jumping = true;
    toEnd('smooth');
  }

  function showBelow() {
    badge.hidden = below === 0;
    if (below) jump.hidden = false;
    badge.textContent = below > 99 ? '99+' : String(below);
    jump.setAttribute('aria-label', below ? tn('conv.jumpUnread', below) : t('conv.jump'));
  }

  function countBelow(items) {
    const me = store.state.me?.id;
    const newest = items.filter((m) => m.seq != null).at(-1)?.seq ?? null;
    if (stuck || belowSeq === null) {
      belowSeq = newest;
      if (below) {
        below = 0;
        showBelow();
      }
      return;
    }
    const arrived = items.filter((m) => m.seq > belowSeq && m.senderId !== me).length;
    belowSeq = Math.max(belowSeq, newest ?? belowSeq);
    if (!arrived) return;
    below += arrived;
    showBelow();
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
      if (m.seq != null && m.seq === dividerSeq) {
        const label = tn('conv.unreadDivider', unreadAtOpen);
        nodes.push(reuse('unread-divider', label, () => h('div', { class: 'unread-divider', role: 'separator', 'data-testid': 'unread-divider' }, h('span', null, label))));
      }
      if (!prev || dayKey(prev.createdAt) !== dayKey(m.createdAt)) {
        const label = dayLabel(m.createdAt);
        nodes.push(reuse(`day:${dayKey(m.createdAt)}`, label, () => h('div', { class: 'day', role: 'separator' }, h('span', null, label))));
      }
      const own = m.senderId === me;
      const first = !sameRun(prev, m);
      const last = !sameRun(m, items[i + 1]);
      // Every bubble from someone else in a group names them to screen readers; only the first of
      // a run shows the name.
      const speaker = group && !own ? people.nameOf(m.senderId) : '';
      const senderName = first ? speaker : '';
      const spokenSender = first ? '' : speaker;
      const status = own ? statusOf(chat, m) : null;
      const mentions = mentionsOf(m, me);
      const replyName = m.replyTo ? people.nameOf(m.replyTo.senderId) : '';
      const reactors = (m.reactions || []).map((r) => r.userIds.map(people.nameOf));
      const signature = JSON.stringify([m.id, m.seq, m.rev, m.content, m.type, m.metadata, status, first, last, senderName, spokenSender,
        clock(m.createdAt), m.editedAt, m.deletedAt, m.hidden, m.pinned, m.forwarded, m.replyTo, replyName, mentions, m.reactions, reactors,
        m.albumMessages?.map((a) => [a.id, a.clientId, a.seq, a.rev, a.metadata, a.failed, a.upload])]);
      nodes.push(reuse(keyOf(m), signature, () => bubble(m, {
        own, first, last, senderName, spokenSender, status, mentions, replyName, me, onMediaLoad,
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
    if (b.loaded && unreadAtOpen && dividerSeq === null) dividerSeq = firstUnreadSeq(b.messages, store.state.me?.id, unreadAtOpen);
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
      rendered = true;
      const divider = dividerSeq !== null && el.querySelector('[data-testid="unread-divider"]');
      if (divider) {
        // Below the sticky day label, which would otherwise cover it.
        el.scrollTop = divider.offsetTop - el.offsetTop - 44;
        stuck = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
      } else toEnd();
    } else if (jumping) {
      toEnd();
    } else if (oldestSeq !== null && newOldest !== null && newOldest < oldestSeq) {
      // Older page added above: keep the same distance from the bottom, so nothing jumps.
      el.scrollTop = el.scrollHeight - el.clientHeight - fromBottom;
    } else if (stuck || sentOne) {
      toEnd();
    }
    oldestSeq = newOldest;
    pendingCount = b.pending.length;
    if (b.loaded) {
      countBelow(b.messages);
      announceNew(b.messages);
    }
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

  for (const type of ['wheel', 'touchstart', 'keydown']) el.addEventListener(type, () => { jumping = false; }, { passive: true });

  el.addEventListener('scroll', () => {
    const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight;
    stuck = fromBottom < STICK_PX;
    if (stuck) {
      jumping = false;
      if (below) {
        below = 0;
        showBelow();
      }
    }
    jump.hidden = fromBottom < JUMP_PX && !below;
    maybeLoadOlder();
  }, { passive: true });

  return { el, jump, render, showSeq, destroy: () => resizes.disconnect() };
}
