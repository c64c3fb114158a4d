// An optional tone for new messages while the app is open but the chat is not on screen (off by
// default, switched in the settings). The tone is made with WebAudio, so there is no sound file to
// load; browsers start audio only after a tap or key press, so the player is made on the first one.
import * as connection from './connection.js';
import * as store from './store.js';
import * as notifications from './notifications.js';

const PREFERENCE_KEY = 'clavox.sound';
const GAP_MS = 1_500; // a burst of messages plays one tone
const NOTES = [[880, 0], [1320, 0.11]]; // hertz, start in seconds: a short rising "ding-ding"
const NOTE_S = 0.16;
const VOLUME = 0.18;

let player = null;
let lastPlayed = 0;
let off = null;

export function isOn() {
  try {
    return localStorage.getItem(PREFERENCE_KEY) === 'on';
  } catch {
    return false;
  }
}

function ensurePlayer() {
  const Context = window.AudioContext || window.webkitAudioContext;
  // Before the first tap or key press the browser would refuse to start it (and say so).
  if (!player && Context && navigator.userActivation?.hasBeenActive !== false) player = new Context();
  if (player?.state === 'suspended') player.resume().catch(() => {});
  return player;
}

function unlock() {
  if (isOn()) ensurePlayer();
}

export function setOn(on) {
  try {
    localStorage.setItem(PREFERENCE_KEY, on ? 'on' : 'off');
  } catch {
    // Not remembered; it applies to this page.
  }
  // Switched by a click: audio may start now, so the next tone is not refused.
  if (on) play();
}

export function play() {
  const context = ensurePlayer();
  if (!context || context.state !== 'running') return;
  const at = context.currentTime;
  for (const [frequency, offset] of NOTES) {
    const tone = context.createOscillator();
    const level = context.createGain();
    tone.type = 'sine';
    tone.frequency.value = frequency;
    level.gain.setValueAtTime(0.0001, at + offset);
    level.gain.exponentialRampToValueAtTime(VOLUME, at + offset + 0.015);
    level.gain.exponentialRampToValueAtTime(0.0001, at + offset + NOTE_S);
    tone.connect(level).connect(context.destination);
    tone.start(at + offset);
    tone.stop(at + offset + NOTE_S + 0.02);
  }
}

// Someone else's message in a chat that is not muted and not on screen. While the page is hidden,
// a notification says it instead, where there is one.
function onNewMessage(message) {
  if (!isOn() || message.senderId === store.state.me?.id) return;
  if (store.state.viewing === message.chatId || store.state.chats.get(message.chatId)?.muted) return;
  if (document.visibilityState !== 'visible' && notifications.status() === 'on') return;
  if (Date.now() - lastPlayed < GAP_MS) return;
  lastPlayed = Date.now();
  play();
}

export function start() {
  off?.();
  off = connection.on('new_message', onNewMessage);
  window.addEventListener('pointerdown', unlock, true);
  window.addEventListener('keydown', unlock, true);
}

export function stop() {
  off?.();
  off = null;
  window.removeEventListener('pointerdown', unlock, true);
  window.removeEventListener('keydown', unlock, true);
}
