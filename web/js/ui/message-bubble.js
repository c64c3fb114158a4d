// One message bubble: the quote it replies to, attachment, text with safe links and highlighted
// @mentions, "edited", time, reactions and (for own messages) its delivery state: sending (clock)
// → sent (one tick) → delivered (two grey ticks) → read (two blue ticks), or failed with
// retry/discard. Deleted messages keep their place as a short italic line. The message menu opens
// from the bubble's own button, a right click, or a long press.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { clock, duration, fullDateTime, fileSize, paletteIndex, safeUrl } from '../format.js';
import { openImage } from './lightbox.js';
import { quote } from './quote.js';
import { albumGrid } from './album.js';
import { withUploadProgress } from './upload-bubble.js';
import { placeholderOf } from '../images.js';
import * as uploads from '../upload-queue.js';
import { voicePlayer } from './voice-player.js';

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi;
const STATUS_ICONS = { sending: 'clock', sent: 'check', delivered: 'checks', read: 'checks', failed: 'alert' };
const LONG_PRESS_MS = 500;
const LONG_PRESS_SLOP_PX = 10;

// A message of one to three emoji and nothing else is shown larger.
const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier}|\u200D\p{Extended_Pictographic}\uFE0F?)*|\p{Regional_Indicator}{2}|\s){1,12}$/u;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
function emojiOnly(text) {
  if (!EMOJI_ONLY.test(text)) return false;
  const count = [...graphemes.segment(text.replace(/\s+/g, ''))].length;
  return count >= 1 && count <= 3;
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Text with each "@Name" of a mentioned person marked (more strongly when it names the reader).
function richText(text, mentions) {
  const named = mentions.filter((m) => m.name);
  if (!named.length) return linkify(text);
  const pattern = new RegExp(named.map((m) => `@${escapeRegExp(m.name)}`).sort((a, b) => b.length - a.length).join('|'), 'g');
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const who = named.find((m) => `@${m.name}` === match[0]);
    parts.push(linkify(text.slice(last, match.index)),
      h('span', { class: `mention${who.me ? ' mention-me' : ''}`, 'data-testid': who.me ? 'mention-me' : 'mention' }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(linkify(text.slice(last)));
  return parts;
}

function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = match[0].replace(/[.,;:!?)\]}'’]+$/, '');
    parts.push(text.slice(last, match.index), h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url));
    last = match.index + url.length;
  }
  parts.push(text.slice(last));
  return parts;
}

const THUMB_MAX_W = 280;
const THUMB_MAX_H = 320;
const THUMB_RATIOS = [0.5, 2.5]; // narrower or wider photos are cropped in the bubble, whole in the viewer
const OVERLAY_MIN_W = 150; // photos this wide carry the time on them; smaller ones keep it below

const positive = (value) => (Number.isFinite(value) && value > 0 ? value : null);

function isUpload(url) {
  return url.startsWith('/api/uploads/');
}

// The box a photo gets before it has loaded, from the size its sender measured, so nothing below
// it moves when it arrives. Small photos keep their own size; none is enlarged.
function thumbBox(width, height) {
  const ratio = Math.min(Math.max(width / height, THUMB_RATIOS[0]), THUMB_RATIOS[1]);
  const boxWidth = Math.min(THUMB_MAX_W, THUMB_MAX_H * ratio, width, height * ratio);
  return { width: Math.max(1, Math.round(boxWidth)), ratio };
}

function measuredBox(meta) {
  const width = positive(meta.width);
  const height = positive(meta.height);
  return width && height ? thumbBox(width, height) : null;
}

function imageAttachment(meta, url, onMediaLoad) {
  const name = meta.name || t('msg.photo');
  const width = positive(meta.width);
  const height = positive(meta.height);
  const img = h('img', { src: url, alt: name, loading: 'lazy', decoding: 'async', width, height });
  // Until the photo has loaded: its blurred stand-in from the metadata, else a quiet tint.
  const placeholder = placeholderOf(meta);
  const link = h('a', { class: 'msg-image loading', href: url, target: '_blank', rel: 'noopener noreferrer', 'aria-label': t('msg.openPhoto', { name }) },
    img, placeholder ? h('img', { class: 'msg-image-placeholder', src: placeholder, alt: '', 'aria-hidden': 'true' }) : null);
  const box = measuredBox(meta);
  if (box) {
    // CSSOM, not a style attribute: the content security policy allows only the former.
    link.classList.add('sized');
    link.style.width = `${box.width}px`;
    link.style.aspectRatio = String(box.ratio);
  }
  img.addEventListener('load', () => {
    link.classList.remove('loading');
    onMediaLoad?.();
  });
  img.addEventListener('error', () => link.classList.add('broken'));
  link.addEventListener('click', (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openImage({ src: url, name, download: isUpload(url) });
  });
  return link;
}

function voiceAttachment(meta, url) {
  const ms = positive(meta.durationMs);
  const label = ms ? t('msg.voiceLength', { duration: duration(ms) }) : t('msg.voice');
  return h('div', { class: 'msg-voice', 'data-testid': 'voice', role: 'group', 'aria-label': label },
    icon('mic', 'icon msg-voice-icon'),
    voicePlayer(url, ms));
}

function extensionOf(name) {
  const match = /\.([0-9a-z]{1,5})$/i.exec(name || '');
  return match ? match[1].toUpperCase() : '';
}

function fileAttachment(meta, url) {
  const name = meta.name || t('msg.file');
  const details = [extensionOf(meta.name), fileSize(meta.size)].filter(Boolean).join(' · ');
  // Uploads download under their own name; the download attribute does nothing for other sites.
  const target = url && isUpload(url) ? { download: name } : { target: '_blank', rel: 'noopener noreferrer' };
  return h('a', { class: 'msg-file', href: url, 'data-testid': 'file', title: t('msg.download', { name }), ...target },
    h('span', { class: 'msg-file-icon' }, icon('file')),
    h('span', { class: 'msg-file-text' },
      h('span', { class: 'msg-file-name' }, name),
      details ? h('span', { class: 'msg-file-size' }, details) : null),
    icon('download', 'icon msg-file-download'));
}

function attachment(message, onMediaLoad) {
  if (message.albumMessages) return albumGrid(message, onMediaLoad);
  const meta = message.metadata || {};
  if (message.upload) {
    // Still uploading: the photo from this device's own copy, or the file's card, with progress.
    const local = uploads.previewOf(message.clientId);
    const content = local ? imageAttachment(meta, local, onMediaLoad) : fileAttachment(meta, null);
    return withUploadProgress(message, content);
  }
  const url = safeUrl(meta.url);
  if (!url) return null;
  if (message.type === 'image') return imageAttachment(meta, url, onMediaLoad);
  if (message.type === 'voice') return voiceAttachment(meta, url);
  return fileAttachment(meta, url);
}

// Reaction chips: each emoji once with its count; the reader's own are pressed, and pressing one
// adds or takes back the reader's.
function reactionChips(message, me, onReact, nameOf) {
  const list = (message.reactions || []).filter((r) => r.userIds?.length);
  if (!list.length) return null;
  return h('div', { class: 'msg-reactions', 'data-testid': 'reactions' }, list.map((r) => {
    const mine = r.userIds.includes(me);
    const names = r.userIds.map(nameOf).join(', ');
    return h('button', {
      type: 'button',
      class: `reaction${mine ? ' mine' : ''}`,
      'data-testid': 'reaction',
      'data-emoji': r.emoji,
      'data-count': r.userIds.length,
      'aria-pressed': String(mine),
      'aria-label': t(mine ? 'react.chipMine' : 'react.chip', { emoji: r.emoji, n: r.userIds.length, names }),
      title: names,
      onclick: (event) => {
        event.stopPropagation();
        onReact?.(r.emoji);
      },
    }, h('span', { class: 'reaction-emoji' }, r.emoji), h('span', { class: 'reaction-count' }, String(r.userIds.length)));
  }));
}

// After a long press opened the menu, the lifting finger can still count as a tap (when the
// browser's own long-press time is longer than ours); that tap must not press whatever the menu
// now shows under it.
function swallowNextClick() {
  const swallow = (event) => {
    event.preventDefault();
    event.stopPropagation();
  };
  window.addEventListener('click', swallow, { capture: true, once: true });
  setTimeout(() => window.removeEventListener('click', swallow, { capture: true }), 700);
}

// Right click, long press (touch), or the Menu key / Shift+F10 on the focused bubble. A right
// click over selected text keeps the browser's own menu, for copying part of a message.
function menuGestures(el, open) {
  let timer = 0;
  let start = null;
  let pressed = false;
  const cancel = () => {
    clearTimeout(timer);
    start = null;
  };
  el.addEventListener('contextmenu', (event) => {
    const selection = window.getSelection();
    if (selection && !selection.isCollapsed && el.contains(selection.anchorNode)) return;
    event.preventDefault();
    if (!pressed) open();
  });
  el.addEventListener('pointerdown', (event) => {
    pressed = false;
    if (event.pointerType !== 'touch') return;
    start = { x: event.clientX, y: event.clientY };
    timer = setTimeout(() => {
      pressed = true;
      open();
    }, LONG_PRESS_MS);
  });
  el.addEventListener('pointermove', (event) => {
    if (start && Math.hypot(event.clientX - start.x, event.clientY - start.y) > LONG_PRESS_SLOP_PX) cancel();
  });
  el.addEventListener('pointerup', () => {
    if (pressed) swallowNextClick();
    cancel();
  });
  for (const type of ['pointercancel', 'pointerleave']) el.addEventListener(type, cancel);
  el.addEventListener('keydown', (event) => {
    if (event.key === 'ContextMenu' || (event.key === 'F10' && event.shiftKey)) {
      event.preventDefault();
      open();
    }
  });
}

function goneLine(message) {
  const key = message.hidden ? 'msg.hiddenByYou' : 'msg.deleted';
  return h('div', { class: 'msg-text msg-gone', 'data-testid': 'deleted' }, icon('ban', 'icon msg-gone-icon'), t(key));
}

// `options`: own, first, last, senderName, status, mentions ([{ name, me }]), replyName (the quoted
// sender's name), me (the reader's id), nameOf, and the handlers onMenu(anchor), onQuote(seq),
// onReact(emoji), onRetry, onDiscard, onMediaLoad.
export function bubble(message, options) {
  const { own, first, last, senderName, status, onRetry, onDiscard, onMediaLoad, onMenu, onQuote, onReact } = options;
  const gone = Boolean(message.deletedAt || message.hidden);
  const text = !gone && message.content && (message.type === 'text' || message.content.trim()) ? message.content : '';
  const photoOnly = !gone && message.type === 'image' && !text
    && (Boolean(message.albumMessages) || (measuredBox(message.metadata || {})?.width ?? 0) >= OVERLAY_MIN_W);
  const meta = h('span', { class: 'msg-meta' },
    message.pinned && !gone ? h('span', { class: 'msg-pin', title: t('msg.pinned') }, icon('pin', 'icon msg-pin-icon'), h('span', { class: 'sr-only' }, t('msg.pinned'))) : null,
    message.editedAt && !gone ? h('span', { class: 'msg-edited', 'data-testid': 'edited', title: fullDateTime(message.editedAt) }, t('msg.edited')) : null,
    h('time', { datetime: message.createdAt, title: fullDateTime(message.createdAt) }, clock(message.createdAt)),
    own ? h('span', { class: `msg-status ${status}` }, icon(STATUS_ICONS[status], 'icon tick'), h('span', { class: 'sr-only' }, t(`msg.${status}`))) : null);
  const mentionsMe = (options.mentions || []).some((m) => m.me);

  const el = h('div', {
    class: `msg ${own ? 'own' : 'other'}${first ? ' first' : ''}${last ? ' last' : ''}${!gone && message.type === 'voice' ? ' is-voice' : ''}${photoOnly ? ' photo-only' : ''}${gone ? ' is-gone' : ''}${mentionsMe ? ' mentions-me' : ''}`,
    'data-testid': 'message',
    'data-seq': message.seq,
    'data-own': String(own),
    'data-status': own ? status : null,
    'data-deleted': message.deletedAt ? 'true' : null,
    'data-hidden': message.hidden ? 'true' : null,
  },
  onMenu ? h('button', {
    type: 'button',
    class: 'msg-menu-btn',
    'data-testid': 'message-menu-button',
    'aria-label': t('menu.open'),
    'aria-haspopup': 'menu',
    title: t('menu.open'),
    onclick: (event) => {
      event.stopPropagation();
      onMenu(event.currentTarget);
    },
  }, icon('chevron')) : null,
  options.spokenSender ? h('span', { class: 'sr-only' }, `${options.spokenSender}: `) : null,
  senderName ? h('div', { class: `msg-sender palette-text-${paletteIndex(message.senderId)}`, dir: 'auto' }, senderName) : null,
  message.forwarded && !gone ? h('div', { class: 'msg-forwarded', 'data-testid': 'forwarded' }, icon('forward', 'icon msg-forwarded-icon'), t('msg.forwarded')) : null,
  message.replyTo && !gone ? h('button', {
    type: 'button',
    class: 'msg-quote',
    'data-testid': 'quote',
    'data-reply-seq': message.replyTo.seq,
    title: t('reply.show'),
    onclick: (event) => {
      event.stopPropagation();
      onQuote?.(message.replyTo.seq);
    },
  }, quote(message.replyTo, options.replyName)) : null,
  gone ? null : attachment(message, onMediaLoad),
  // `dir=auto`: each text runs the way its own script does (Arabic, Hebrew
  // right to left), whatever the app's language.
  text ? h('div', { class: `msg-text${emojiOnly(text) ? ' emoji-only' : ''}`, dir: 'auto' }, richText(text, options.mentions || [])) : null,
  gone ? goneLine(message) : null,
  meta,
  gone ? null : reactionChips(message, options.me, onReact, options.nameOf || String));

  if (onMenu) menuGestures(el, () => onMenu(el));

  if (status === 'failed') {
    el.append(h('div', { class: 'msg-failed' },
      h('span', { 'data-testid': 'not-sent' }, message.failure === 'blocked' ? t('block.cantMessage') : t('msg.notSent')),
      h('button', { type: 'button', class: 'link-btn', onclick: onRetry }, t('msg.retry')),
      h('button', { type: 'button', class: 'link-btn', onclick: onDiscard }, t('msg.discard'))));
  }
  return el;
}
