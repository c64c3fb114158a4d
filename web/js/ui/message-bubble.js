// One message bubble: attachment, text with safe links, time and (for own messages) its delivery
// state: sending (clock) → sent (one tick) → read (two ticks), or failed with retry/discard.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { clock, fullDateTime, fileSize, paletteIndex, safeUrl } from '../format.js';

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi;
const STATUS_ICONS = { sending: 'clock', sent: 'check', read: 'checks', failed: 'alert' };

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

function attachment(message, onMediaLoad) {
  const meta = message.metadata || {};
  const url = safeUrl(meta.url);
  if (!url) return null;
  if (message.type === 'image') {
    const img = h('img', { src: url, alt: meta.name || t('msg.photo'), loading: 'lazy', width: meta.width, height: meta.height });
    img.addEventListener('load', onMediaLoad);
    return h('a', { class: 'msg-image', href: url, target: '_blank', rel: 'noopener noreferrer' }, img);
  }
  if (message.type === 'voice') return h('audio', { class: 'msg-audio', controls: true, preload: 'none', src: url });
  return h('a', { class: 'msg-file', href: url, target: '_blank', rel: 'noopener noreferrer', download: meta.name || '' },
    icon('file'),
    h('span', { class: 'msg-file-text' }, h('span', { class: 'msg-file-name' }, meta.name || t('msg.file')), h('span', { class: 'msg-file-size' }, fileSize(meta.size))));
}

export function bubble(message, { own, first, last, senderName, status, onRetry, onDiscard, onMediaLoad }) {
  const text = message.content && (message.type === 'text' || message.content.trim()) ? message.content : '';
  const meta = h('span', { class: 'msg-meta' },
    h('time', { datetime: message.createdAt, title: fullDateTime(message.createdAt) }, clock(message.createdAt)),
    own ? h('span', { class: `msg-status ${status}` }, icon(STATUS_ICONS[status], 'icon tick'), h('span', { class: 'sr-only' }, t(`msg.${status}`))) : null);

  const el = h('div', {
    class: `msg ${own ? 'own' : 'other'}${first ? ' first' : ''}${last ? ' last' : ''}`,
    'data-testid': 'message',
    'data-seq': message.seq,
    'data-own': String(own),
    'data-status': own ? status : null,
  },
  senderName ? h('div', { class: `msg-sender palette-text-${paletteIndex(message.senderId)}` }, senderName) : null,
  attachment(message, onMediaLoad),
  text ? h('div', { class: 'msg-text' }, linkify(text)) : null,
  meta);

  if (status === 'failed') {
    el.append(h('div', { class: 'msg-failed' },
      h('span', null, t('msg.notSent')),
      h('button', { type: 'button', class: 'link-btn', onclick: onRetry }, t('msg.retry')),
      h('button', { type: 'button', class: 'link-btn', onclick: onDiscard }, t('msg.discard'))));
  }
  return el;
}
