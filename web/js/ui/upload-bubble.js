// What a bubble shows while its attachment is still being uploaded: a progress bar that follows
// the upload and a button that cancels it (the bubble then goes). Laid over the photo itself, or
// under a file's card.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as uploads from '../upload-queue.js';

// `content` (the photo or the file card) with the upload's progress and cancel button over it.
export function withUploadProgress(message, content) {
  const bar = h('progress', {
    class: 'upload-bar',
    'data-testid': 'upload-progress',
    max: 1,
    value: uploads.progressOf(message.clientId),
    'aria-label': t('upload.progress', { name: message.metadata?.name || t('msg.file') }),
  });
  const cancel = h('button', {
    type: 'button',
    class: 'upload-cancel',
    'data-testid': 'upload-cancel',
    'aria-label': t('upload.cancel'),
    title: t('upload.cancel'),
    onclick: (event) => {
      event.preventDefault();
      event.stopPropagation();
      uploads.cancel(message.chatId, message.clientId);
    },
  }, icon('close'));
  let shown = false;
  const off = uploads.onProgress(message.clientId, (fraction) => {
    // A bubble built anew (its message changed) leaves this one behind: stop following then.
    if (!bar.isConnected && shown) {
      off();
      return;
    }
    shown = shown || bar.isConnected;
    bar.value = fraction;
  });
  const failed = Boolean(message.failed);
  return h('div', { class: `upload-pending${message.type === 'image' ? ' is-photo' : ''}`, 'data-testid': 'upload-pending' },
    content,
    failed ? null : h('div', { class: 'upload-controls' }, cancel, bar));
}
