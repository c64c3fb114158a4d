// A voice message's player, drawn by the app because the browser's own hides its seek bar in a
// narrow bubble: play/pause, a seek bar, the time, and the speed (1×, 1.5×, 2×). One length is
// shown everywhere: the recorded one (metadata.durationMs) when the message has it, else the
// audio's own. While playing, or paused part-way, the time shows the position instead.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { duration } from '../format.js';

const SPEEDS = [1, 1.5, 2];
const SEEK_STEP_MS = 100;

// MediaRecorder's WebM carries no duration, so browsers report Infinity and cannot seek until
// they have seen the end: seeking far past it once makes the browser find the real length.
function learnDuration(audio) {
  audio.addEventListener('loadedmetadata', () => {
    if (audio.duration !== Infinity) return;
    audio.addEventListener('timeupdate', () => {
      audio.currentTime = 0;
    }, { once: true });
    audio.currentTime = 1e101;
  }, { once: true });
}

const finite = (value) => (Number.isFinite(value) && value > 0 ? value : null);

export function voicePlayer(url, recordedMs) {
  const audio = h('audio', { class: 'msg-audio', preload: 'metadata', src: url });
  const play = h('button', { type: 'button', class: 'voice-play', 'data-testid': 'voice-play', 'aria-label': t('voice.play'), title: t('voice.play') }, icon('play'));
  const seek = h('input', {
    type: 'range',
    class: 'voice-seek',
    'data-testid': 'voice-seek',
    min: 0,
    max: recordedMs || 0,
    step: SEEK_STEP_MS,
    value: 0,
    'aria-label': t('voice.position'),
  });
  const time = h('span', { class: 'msg-voice-duration', 'data-testid': 'voice-duration' });
  const speed = h('button', { type: 'button', class: 'voice-speed', 'data-testid': 'voice-speed', 'aria-label': t('voice.speed', { speed: '1×' }) }, '1×');
  let speedIndex = 0;
  let dragging = false;

  const lengthMs = () => recordedMs || (finite(audio.duration) ?? 0) * 1000;

  function render() {
    const total = lengthMs();
    const at = Math.min(audio.currentTime * 1000, total || Infinity);
    const started = at > 0 || !audio.paused;
    seek.max = String(Math.max(total, SEEK_STEP_MS));
    if (!dragging) seek.value = String(at);
    time.textContent = started ? duration(at) : (total ? duration(total) : '');
    seek.setAttribute('aria-valuetext', t('voice.positionOf', { at: duration(at), total: duration(total) }));
    const playing = !audio.paused;
    play.replaceChildren(icon(playing ? 'pause' : 'play'));
    play.setAttribute('aria-label', t(playing ? 'voice.pause' : 'voice.play'));
    play.title = play.getAttribute('aria-label');
  }

  play.addEventListener('click', (event) => {
    event.stopPropagation();
    if (!audio.paused) audio.pause();
    else {
      // Another voice message playing stops: one at a time.
      for (const other of document.querySelectorAll('audio.msg-audio')) if (other !== audio) other.pause();
      audio.play().catch(() => {});
    }
  });
  seek.addEventListener('input', () => {
    dragging = true;
    time.textContent = duration(Number(seek.value));
  });
  seek.addEventListener('change', () => {
    dragging = false;
    audio.currentTime = Number(seek.value) / 1000;
    render();
  });
  speed.addEventListener('click', (event) => {
    event.stopPropagation();
    speedIndex = (speedIndex + 1) % SPEEDS.length;
    const label = `${SPEEDS[speedIndex]}×`;
    audio.playbackRate = SPEEDS[speedIndex];
    speed.textContent = label;
    speed.setAttribute('aria-label', t('voice.speed', { speed: label }));
  });
  audio.addEventListener('ended', () => {
    audio.currentTime = 0;
    render();
  });
  for (const type of ['play', 'pause', 'timeupdate', 'durationchange', 'loadedmetadata', 'seeked']) audio.addEventListener(type, render);
  learnDuration(audio);
  render();

  return h('div', { class: 'voice-player' }, audio, play, seek, time, speed);
}
