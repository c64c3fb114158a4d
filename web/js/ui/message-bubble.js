// One message bubble: attachment, text with safe links, time and (for own messages) its delivery
// state: sending (clock) → sent (one tick) → read (two ticks), or failed with retry/discard.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { clock, duration, fullDateTime, fileSize, paletteIndex, safeUrl } from '../format.js';
import { openImage } from './lightbox.js';

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
  const link = h('a', { class: 'msg-image', href: url, target: '_blank', rel: 'noopener noreferrer', 'aria-label': t('msg.openPhoto', { name }) }, img);
  const box = measuredBox(meta);
  if (box) {
    // CSSOM, not a style attribute: the content security policy allows only the former.
    link.classList.add('sized');
    link.style.width = `${box.width}px`;
    link.style.aspectRatio = String(box.ratio);
  }
  img.addEventListener('load', onMediaLoad);
  img.addEventListener('error', () => link.classList.add('broken'));
  link.addEventListener('click', (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openImage({ src: url, name, download: isUpload(url) });
  });
  return link;
}

// MediaRecorder's WebM carries no duration, so browsers report Infinity and the player cannot seek
// until it has seen the end: seeking far past it once makes the browser find the real length.
function learnDuration(audio) {
  audio.addEventListener('loadedmetadata', () => {
    if (audio.duration !== Infinity) return;
    audio.addEventListener('timeupdate', () => {
      audio.currentTime = 0;
    }, { once: true });
    audio.currentTime = 1e101;
  }, { once: true });
}

function voiceAttachment(meta, url) {
  const ms = positive(meta.durationMs);
  const label = ms ? t('msg.voiceLength', { duration: duration(ms) }) : t('msg.voice');
  const audio = h('audio', { class: 'msg-audio', controls: true, preload: 'metadata', src: url, 'aria-label': label });
  learnDuration(audio);
  return h('div', { class: 'msg-voice', 'data-testid': 'voice' },
    audio,
    h('span', { class: 'msg-voice-info', 'aria-hidden': 'true' },
      icon('mic', 'icon msg-voice-icon'),
      ms ? h('span', { class: 'msg-voice-duration', 'data-testid': 'voice-duration' }, duration(ms)) : t('msg.voice')));
}

function extensionOf(name) {
  const match = /\.([0-9a-z]{1,5})$/i.exec(name || '');
  return match ? match[1].toUpperCase() : '';
}

function fileAttachment(meta, url) {
  const name = meta.name || t('msg.file');
  const details = [extensionOf(meta.name), fileSize(meta.size)].filter(Boolean).join(' · ');
  // Uploads download under their own name; the download attribute does nothing for other sites.
  const target = isUpload(url) ? { download: name } : { target: '_blank', rel: 'noopener noreferrer' };
  return h('a', { class: 'msg-file', href: url, 'data-testid': 'file', title: t('msg.download', { name }), ...target },
    h('span', { class: 'msg-file-icon' }, icon('file')),
    h('span', { class: 'msg-file-text' },
      h('span', { class: 'msg-file-name' }, name),
      details ? h('span', { class: 'msg-file-size' }, details) : null),
    icon('download', 'icon msg-file-download'));
}

function attachment(message, onMediaLoad) {
  const meta = message.metadata || {};
  const url = safeUrl(meta.url);
  if (!url) return null;
  if (message.type === 'image') return imageAttachment(meta, url, onMediaLoad);
  if (message.type === 'voice') return voiceAttachment(meta, url);
  return fileAttachment(meta, url);
}

export function bubble(message, { own, first, last, senderName, status, onRetry, onDiscard, onMediaLoad }) {
  const text = message.content && (message.type === 'text' || message.content.trim()) ? message.content : '';
  const photoOnly = message.type === 'image' && !text && (measuredBox(message.metadata || {})?.width ?? 0) >= OVERLAY_MIN_W;
  const meta = h('span', { class: 'msg-meta' },
    h('time', { datetime: message.createdAt, title: fullDateTime(message.createdAt) }, clock(message.createdAt)),
    own ? h('span', { class: `msg-status ${status}` }, icon(STATUS_ICONS[status], 'icon tick'), h('span', { class: 'sr-only' }, t(`msg.${status}`))) : null);

  const el = h('div', {
    class: `msg ${own ? 'own' : 'other'}${first ? ' first' : ''}${last ? ' last' : ''}${message.type === 'voice' ? ' is-voice' : ''}${photoOnly ? ' photo-only' : ''}`,
    'data-testid': 'message',
    'data-seq': message.seq,
    'data-own': String(own),
    'data-status': own ? status : null,
  },
  senderName ? h('div', { class: `msg-sender palette-text-${paletteIndex(message.senderId)}`, dir: 'auto' }, senderName) : null,
  attachment(message, onMediaLoad),
  // `dir=auto`: each text runs the way its own script does (Arabic, Hebrew
  // right to left), whatever the app's language.
  text ? h('div', { class: 'msg-text', dir: 'auto' }, linkify(text)) : null,
  meta);

  if (status === 'failed') {
    el.append(h('div', { class: 'msg-failed' },
      h('span', null, t('msg.notSent')),
      h('button', { type: 'button', class: 'link-btn', onclick: onRetry }, t('msg.retry')),
      h('button', { type: 'button', class: 'link-btn', onclick: onDiscard }, t('msg.discard'))));
  }
  return el;
}
