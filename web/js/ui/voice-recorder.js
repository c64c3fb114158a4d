// The composer's voice controls: a microphone button that starts recording, and while recording a
// bar with a red dot and the elapsed time, a discard button and a send button (Escape discards
// too). The finished recording goes to `onRecorded(file, durationMs)`; `onChange(active)` tells the
// composer to make room for the bar.
import { h, setBusy } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { duration } from '../format.js';
import { record, extensionFor, needsSecureAddress } from '../voice.js';
import { toast, announce } from './notify.js';
import { explainSecureAddress } from './secure-address.js';

const TICK_MS = 200;
const MIN_MS = 600; // a tap rather than a message
const MAX_MS = 15 * 60_000; // about 3.6 MB of Opus, far below the upload limit
const NOTICE_MS = 10_000; // long enough to read how to allow the microphone

// 20260128-143012: the recording's local start time, for its file name.
function stamp(date) {
  const two = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}-${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
}

function micError(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError': return t('voice.denied');
    case 'NotFoundError':
    case 'OverconstrainedError': return t('voice.noMic');
    case 'NotReadableError':
    case 'AbortError': return t('voice.busy');
    default: return t('voice.failed');
  }
}

// On plain http:// the browser has no microphone for the page: say so, and where to go instead.
function explainVoiceNeedsHttps(anchor) {
  explainSecureAddress({
    title: t('voice.secureTitle'),
    text: t('voice.secureText'),
    action: t('voice.secureOpen'),
    testid: 'voice-needs-https',
    linkTestid: 'voice-join',
    anchor,
  });
}

export function voiceControls({ onChange, onRecorded }) {
  let recording = null;
  let startedAt = null;
  let starting = false;
  let available = true;
  let destroyed = false;
  let ticker = 0;

  const time = h('span', { class: 'rec-time', 'data-testid': 'record-time', 'data-ms': '0' }, duration(0));
  const start = h('button', { type: 'button', class: 'send-btn', 'data-testid': 'record', 'aria-label': t('voice.record'), title: t('voice.record'), onclick: begin }, icon('mic'));
  const discardButton = h('button', { type: 'button', class: 'icon-btn rec-cancel', 'data-testid': 'record-cancel', 'aria-label': t('voice.cancel'), title: t('voice.cancel'), hidden: true, onclick: discard }, icon('trash'));
  const sendButton = h('button', { type: 'button', class: 'send-btn', 'data-testid': 'record-send', 'aria-label': t('voice.send'), title: t('voice.send'), hidden: true, onclick: finish }, icon('send'));
  const bar = h('div', { class: 'rec-bar', 'data-testid': 'recording', hidden: true },
    h('span', { class: 'rec-dot', 'aria-hidden': 'true' }),
    time,
    h('span', { class: 'rec-label' }, t('voice.recording')));

  function show(active) {
    discardButton.hidden = !active;
    sendButton.hidden = !active;
    bar.hidden = !active;
    start.hidden = active || !available;
    onChange(active);
  }

  function tick() {
    if (!recording) return;
    const ms = recording.elapsed();
    time.textContent = duration(ms < 1000 ? 0 : ms);
    time.dataset.ms = String(Math.round(ms));
    if (ms >= MAX_MS) finish();
  }

  function onKey(event) {
    if (event.key === 'Escape' && !document.querySelector('dialog[open]')) {
      event.preventDefault();
      discard();
    }
  }

  async function begin() {
    if (recording || starting) return;
    if (needsSecureAddress()) {
      explainVoiceNeedsHttps(start);
      return;
    }
    starting = true;
    setBusy(start, true);
    try {
      recording = await record();
      startedAt = new Date();
    } catch (err) {
      if (!destroyed) toast(micError(err), NOTICE_MS);
      return;
    } finally {
      starting = false;
      setBusy(start, false);
    }
    if (destroyed) {
      end()?.cancel();
      return;
    }
    const current = recording;
    // The recorder stopped by itself (microphone unplugged, permission revoked): keep what was said.
    current.ended.then(() => {
      if (recording === current) finish();
    });
    show(true);
    sendButton.focus();
    time.textContent = duration(0);
    time.dataset.ms = '0';
    ticker = setInterval(tick, TICK_MS);
    document.addEventListener('keydown', onKey);
    announce(t('voice.recording'));
  }

  // Leaves the recording state and hands back the recording that was running, if any.
  function end() {
    clearInterval(ticker);
    document.removeEventListener('keydown', onKey);
    const current = recording;
    recording = null;
    if (!destroyed && current) {
      const hadFocus = bar.parentNode?.contains(document.activeElement);
      show(false);
      if (hadFocus || document.activeElement === document.body) start.focus({ preventScroll: true });
    }
    return current;
  }

  function discard() {
    const current = end();
    if (!current) return;
    current.cancel();
    announce(t('voice.discarded'));
  }

  async function finish() {
    const began = startedAt;
    const current = end();
    if (!current) return;
    const { blob, durationMs } = await current.stop();
    if (durationMs < MIN_MS || !blob.size) {
      toast(t('voice.tooShort'));
      return;
    }
    const type = blob.type || 'audio/webm';
    const file = new File([blob], `voice-${stamp(began || new Date())}.${extensionFor(type)}`, { type });
    onRecorded(file, durationMs);
  }

  return {
    start,
    discardButton,
    sendButton,
    bar,
    active: () => Boolean(recording),
    // The microphone button shows only while there is no text to send.
    setAvailable(value) {
      available = value;
      start.hidden = !available || Boolean(recording);
    },
    destroy() {
      destroyed = true;
      end()?.cancel();
    },
  };
}
