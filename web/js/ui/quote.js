// A quoted message, as a reply shows it in its bubble and above the composer: the sender's name in
// their colour, then the kind of message (the app's own icon) and the start of its text.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { kindIcon, paletteIndex } from '../format.js';

const KIND_LABELS = { image: 'msg.photo', voice: 'msg.voice', file: 'msg.file' };

// `reply`: a ReplyPreview ({ seq, senderId, type, preview }). An empty text preview means the
// original has been deleted since.
function previewText(reply) {
  const text = String(reply.preview || '').split('\n', 1)[0];
  if (text) return text;
  return KIND_LABELS[reply.type] ? t(KIND_LABELS[reply.type]) : t('msg.deleted');
}

export function quote(reply, name) {
  const kind = kindIcon(reply);
  const palette = paletteIndex(reply.senderId);
  return h('span', { class: `quote palette-edge-${palette}` },
    h('span', { class: `quote-name palette-text-${palette}`, dir: 'auto' }, name),
    h('span', { class: `quote-text${!reply.preview && !kind ? ' is-gone' : ''}`, dir: 'auto' },
      kind ? icon(kind, 'icon quote-kind') : null,
      previewText(reply)));
}

// The ReplyPreview of a message this device has, for a reply being written.
export function previewOf(message) {
  return {
    seq: message.seq,
    senderId: message.senderId,
    type: message.type,
    preview: Array.from(message.content || '').slice(0, 100).join(''),
  };
}
