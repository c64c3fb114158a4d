// Writing messages: a growing textarea (Enter sends and Shift+Enter breaks the line; on touch
// keyboards Enter breaks the line and the button sends), an emoji picker, attachments,
// voice messages (the microphone replaces Send while there is no text), and the typing signal: typing_start at most every 3 s while typing, typing_stop on send, on
// blur, or after 4 s without a keystroke. Drafts survive switching chats.
// Above the text box: the message being replied to, or the one being edited (its text moves into
// the box and Send saves it); the cross or Escape cancels either. In groups, "@" suggests members.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as connection from '../connection.js';
import * as outbox from '../outbox.js';
import * as people from '../people.js';
import * as actions from '../message-actions.js';
import { codePoints } from '../format.js';
import { canRecord, needsSecureAddress } from '../voice.js';
import { toast } from './notify.js';
import { voiceControls } from './voice-recorder.js';
import { mentionSuggester } from './mentions.js';
import { emojiPicker } from './emoji-picker.js';
import { quote, previewOf } from './quote.js';
import { reportError } from './message-menu.js';
import * as uploads from '../upload-queue.js';
import { isImage } from '../images.js';
import { openSheet } from './sheet.js';
import { openPhotoPreview, sendPhotos } from './photo-preview.js';

const MAX_CHARS = 4096;
const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;
const TYPING_REPEAT_MS = 3_000;
const TYPING_IDLE_MS = 4_000;
const MAX_HEIGHT_PX = 160;
const RASTER = /^image\/(png|jpeg|gif|webp)$/;

const drafts = new Map(); // chatId → unsent text

// On touch keyboards Enter is a new line and the button sends (there is no Shift to hold);
// with a physical keyboard Enter sends and Shift+Enter is a new line.
const touchKeyboard = () => window.matchMedia('(pointer: coarse) and (hover: none)').matches;

async function imageSize(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return {};
  }
}

export function mountComposer(chatId) {
  let typingSince = 0;
  let idleTimer = 0;

  const textarea = h('textarea', {
    class: 'composer-input',
    dir: 'auto',
    rows: 1,
    'data-testid': 'composer',
    'aria-label': t('composer.label'),
    placeholder: t('composer.placeholder'),
    enterkeyhint: touchKeyboard() ? 'enter' : 'send',
    value: drafts.get(chatId) || '',
  });
  const send = h('button', { type: 'submit', class: 'send-btn', 'data-testid': 'send', 'aria-label': t('composer.send'), title: t('composer.send') }, icon('send'));
  const picker = h('input', { type: 'file', hidden: true, tabindex: -1, 'data-testid': 'attach-input' });
  const attach = h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'attach', 'aria-label': t('composer.attach'), title: t('composer.attach'), onclick: chooseAttachment }, icon('attach'));
  // Photos are previewed, shrunk and may go as an album; a file keeps its own bytes.
  const photoPicker = h('input', { type: 'file', accept: 'image/*', multiple: true, hidden: true, tabindex: -1, 'data-testid': 'photo-input' });
  const emoji = emojiPicker(textarea);
  const voice = canRecord() || needsSecureAddress() ? voiceControls({ onChange: layout, onRecorded: sendVoice }) : null;
  const form = h('form', { class: 'composer', onsubmit: (event) => { event.preventDefault(); submit(); } },
    attach, picker, voice?.discardButton, emoji.button, textarea, voice?.bar, send, voice?.start, voice?.sendButton);
  const mentions = mentionSuggester(textarea, chatId, onInput);
  const context = h('div', { class: 'composer-context', 'data-testid': 'composer-context', hidden: true });
  const el = h('div', { class: 'composer-area' }, mentions.el, emoji.panel, context, form);
  let mode = null; // { kind: 'reply' | 'edit', message, draft? }

  // Recording: the bar takes the place of the text box. No text: the microphone takes Send's place.
  // Editing: Send saves, and nothing can be attached or recorded.
  function layout() {
    const recording = Boolean(voice?.active());
    const empty = !textarea.value.trim();
    const editing = mode?.kind === 'edit';
    attach.hidden = recording || editing;
    emoji.button.hidden = recording;
    textarea.hidden = recording;
    send.hidden = recording || (Boolean(voice) && empty && !editing);
    voice?.setAvailable(empty && !editing);
  }

  function showContext() {
    if (!mode) {
      context.hidden = true;
      context.replaceChildren();
      send.replaceChildren(icon('send'));
      send.setAttribute('aria-label', t('composer.send'));
      send.title = t('composer.send');
      return;
    }
    const { kind, message } = mode;
    const editing = kind === 'edit';
    const cancel = h('button', {
      type: 'button',
      class: 'icon-btn context-cancel',
      'data-testid': editing ? 'edit-cancel' : 'reply-cancel',
      'aria-label': t(editing ? 'composer.cancelEdit' : 'composer.cancelReply'),
      title: t(editing ? 'composer.cancelEdit' : 'composer.cancelReply'),
      onclick: () => {
        cancelMode();
        textarea.focus();
      },
    }, icon('close'));
    const name = editing ? t('composer.editing') : t('composer.replyingTo', { name: people.nameOf(message.senderId) });
    context.replaceChildren(
      icon(editing ? 'edit' : 'reply', 'icon context-icon'),
      h('div', { class: 'context-quote', 'data-testid': editing ? 'edit-preview' : 'reply-preview' }, quote(previewOf(message), name)),
      cancel);
    context.hidden = false;
    send.replaceChildren(icon(editing ? 'check' : 'send'));
    send.setAttribute('aria-label', t(editing ? 'composer.save' : 'composer.send'));
    send.title = t(editing ? 'composer.save' : 'composer.send');
  }

  function cancelMode() {
    if (mode?.kind === 'edit') {
      textarea.value = mode.draft;
      fit();
    }
    mode = null;
    showContext();
    layout();
  }

  // Quotes `message` above the text box; what is sent next replies to it.
  function reply(message) {
    if (mode?.kind === 'edit') cancelMode();
    mode = { kind: 'reply', message };
    showContext();
    layout();
    textarea.focus();
  }

  // Puts `message`'s text in the box for editing; the draft comes back afterwards.
  function edit(message) {
    const draft = mode?.kind === 'edit' ? mode.draft : textarea.value;
    mode = { kind: 'edit', message, draft };
    textarea.value = message.content || '';
    showContext();
    fit();
    layout();
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  }

  async function saveEdit() {
    const { message } = mode;
    const content = textarea.value.trim();
    if (!content && message.type === 'text') {
      toast(t('composer.editEmpty'));
      return;
    }
    if (codePoints(content) > MAX_CHARS) {
      toast(t('composer.tooLong', { max: MAX_CHARS }));
      return;
    }
    if (content === (message.content || '').trim()) {
      cancelMode();
      return;
    }
    send.disabled = true;
    try {
      await actions.edit(message, content);
      if (mode?.message === message) cancelMode();
    } catch (err) {
      reportError(err);
    } finally {
      send.disabled = false;
    }
  }

  // What goes with the next message: the quoted one, and who was @mentioned in `content`.
  function extras(content) {
    const replyTo = mode?.kind === 'reply' ? previewOf(mode.message) : null;
    if (replyTo) {
      mode = null;
      showContext();
    }
    return { replyTo, mentions: content ? mentions.take(content) : [] };
  }

  function signal(event) {
    connection.request(event, { chatId }).catch(() => {});
  }

  function stopTyping() {
    clearTimeout(idleTimer);
    if (!typingSince) return;
    typingSince = 0;
    signal('typing_stop');
  }

  function onTyping() {
    if (!textarea.value.trim()) {
      stopTyping();
      return;
    }
    if (Date.now() - typingSince >= TYPING_REPEAT_MS) {
      typingSince = Date.now();
      signal('typing_start');
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function fit() {
    textarea.style.height = 'auto';
    const borders = textarea.offsetHeight - textarea.clientHeight;
    textarea.style.height = `${Math.min(textarea.scrollHeight + borders, MAX_HEIGHT_PX)}px`;
  }

  function submit() {
    if (mode?.kind === 'edit') {
      saveEdit();
      return;
    }
    const content = textarea.value.trim();
    if (!content) return;
    if (codePoints(content) > MAX_CHARS) {
      toast(t('composer.tooLong', { max: MAX_CHARS }));
      return;
    }
    outbox.enqueue(chatId, content, 'text', null, extras(content));
    textarea.value = '';
    drafts.delete(chatId);
    stopTyping();
    fit();
    layout();
  }

  // Uploads `file` (raw body, its own Content-Type) and sends it as an image, file or voice message.
  // Queues `file` (its own bytes) as an image, file or voice message: its bubble shows at once
  // with the upload's progress, and it waits while offline (upload-queue.js).
  async function sendUpload(file, { voiceMs = null } = {}) {
    if (file.size > MAX_UPLOAD_BYTES) {
      toast(t('composer.fileTooLarge'));
      return;
    }
    const contentType = file.type || 'application/octet-stream';
    const metadata = { name: file.name || t('msg.file'), size: file.size, contentType };
    let type = 'file';
    if (voiceMs != null) {
      type = 'voice';
      metadata.durationMs = voiceMs;
    } else if (RASTER.test(contentType)) {
      type = 'image';
      Object.assign(metadata, await imageSize(file));
    }
    uploads.enqueue(chatId, file, { type, metadata, ...extras('') });
  }

  function sendFile() {
    const file = picker.files[0];
    picker.value = '';
    if (file) sendUpload(file);
  }

  // The preview for images picked, pasted or dropped; what it sends replies to the quoted message.
  function previewPhotos(files) {
    const images = [...files].filter(isImage);
    if (!images.length) return false;
    openPhotoPreview(images, { onSend: (chosen, caption) => sendPhotos(chatId, chosen, caption, extras(caption)) });
    return true;
  }

  function choosePhotos() {
    const files = [...photoPicker.files];
    photoPicker.value = '';
    previewPhotos(files);
  }

  // The paperclip offers photos (previewed, shrunk, several at once) or a file (sent as it is).
  function chooseAttachment() {
    const option = (testid, name, label, input) => h('button', {
      type: 'button', class: 'menu-item', role: 'menuitem', 'data-testid': testid,
      onclick: () => {
        sheet.close();
        input.click();
      },
    }, icon(name), h('span', null, label));
    const sheet = openSheet({
      label: t('composer.attach'),
      testid: 'attach-menu',
      className: 'menu-sheet',
      anchor: attach,
      content: h('div', { class: 'menu-list', role: 'menu' },
        option('attach-photos', 'camera', t('composer.attachPhotos'), photoPicker),
        option('attach-file', 'file', t('composer.attachFile'), picker)),
    });
  }

  function sendVoice(file, durationMs) {
    sendUpload(file, { voiceMs: durationMs });
  }

  function onInput() {
    if (mode?.kind !== 'edit') drafts.set(chatId, textarea.value);
    fit();
    layout();
    mentions.update();
    if (mode?.kind !== 'edit') onTyping();
  }

  textarea.addEventListener('keydown', (event) => {
    // isComposing: keys that drive an IME (Enter confirming a candidate) are not ours.
    if (event.isComposing || event.keyCode === 229) return;
    if (mentions.keydown(event)) return;
    if (event.key === 'Escape' && mode) {
      event.preventDefault();
      cancelMode();
      return;
    }
    if (event.key === 'Enter' && !event.shiftKey && !touchKeyboard()) {
      event.preventDefault();
      submit();
    }
  });
  textarea.addEventListener('input', onInput);
  textarea.addEventListener('paste', (event) => {
    if (previewPhotos(event.clipboardData?.files || [])) event.preventDefault();
  });
  textarea.addEventListener('click', () => mentions.update());
  textarea.addEventListener('blur', () => mentions.close());
  textarea.addEventListener('blur', stopTyping);
  // Keep the keyboard open on phones: pressing Send must not take focus from the textarea.
  send.addEventListener('pointerdown', (event) => {
    if (document.activeElement === textarea) event.preventDefault();
  });
  picker.addEventListener('change', sendFile);
  photoPicker.addEventListener('change', choosePhotos);
  form.append(photoPicker);
  layout();

  return {
    el,
    textarea,
    fit,
    reply,
    edit,
    previewPhotos,
    destroy() {
      stopTyping();
      emoji.close();
      voice?.destroy();
    },
  };
}
