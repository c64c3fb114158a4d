// One open chat: header (name, presence or member count), the pinned message, the message list,
// who is typing, and the composer. While it is on screen and the page is visible, everything shown
// is marked read, and the chat's notifications are taken away. A message's menu fills the composer for a reply or an edit.
import { h, batched, isDesktop } from '../dom.js';
import { icon } from '../icons.js';
import { t, tn } from '../i18n.js';
import * as store from '../store.js';
import * as sync from '../sync.js';
import * as router from '../router.js';
import * as people from '../people.js';
import * as notifications from '../notifications.js';
import { presence } from '../format.js';
import { avatar } from './avatar.js';
import { mountMessageList } from './message-list.js';
import { mountComposer } from './composer.js';
import { acceptDroppedPhotos } from './photo-preview.js';
import { mountPinnedBar } from './pinned-bar.js';
import { openMessageMenu, react } from './message-menu.js';
import { watchMatches } from './search.js';

function typingText(ids) {
  if (ids.length === 1) return t('typing.one', { name: people.firstName(ids[0]) });
  if (ids.length === 2) return t('typing.two', { a: people.firstName(ids[0]), b: people.firstName(ids[1]) });
  return tn('typing.many', ids.length);
}

export function mountConversation(container, chatId) {
  // The top heading of the page on phones, where the chat list's is not shown.
  const title = h('h1', { class: 'conv-title', id: 'conv-title', 'data-testid': 'chat-title', tabindex: -1 });
  const subtitle = h('p', { class: 'conv-sub' });
  const face = h('span', { class: 'conv-face' });
  const openInfo = () => router.navigate(`/chat/${chatId}/info`);
  const infoButton = h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'group-info', onclick: openInfo }, icon('info'));
  const typing = h('div', { class: 'typing', 'data-testid': 'typing', hidden: true });
  const list = mountMessageList(chatId, {
    onMenu: (message, anchor) => openMessageMenu(message, anchor, { onReply: composer.reply, onEdit: composer.edit }),
    onReact: react,
  });
  const composer = mountComposer(chatId);
  const pinned = mountPinnedBar(chatId, list.showSeq);

  const root = h('section', { class: 'conv', 'aria-labelledby': 'conv-title' },
    h('header', { class: 'bar conv-bar' },
      h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'back', 'aria-label': t('conv.back'), onclick: () => router.back('/') }, icon('back')),
      // Mouse shortcut only; the info button is the accessible way in.
      h('div', { class: 'conv-head', onclick: openInfo }, face, h('div', { class: 'conv-titles' }, title, subtitle)),
      infoButton),
    pinned.el,
    h('div', { class: 'conv-body' }, list.el, list.jump),
    // The live region stays in place; only its child is shown and hidden.
    h('div', { class: 'typing-wrap', 'aria-live': 'polite' }, typing),
    composer.el);
  container.append(root);
  acceptDroppedPhotos(root, composer.previewPhotos);

  let lookedUp = false;

  function renderHeader() {
    const chat = store.state.chats.get(chatId);
    if (!chat) {
      title.textContent = t('conv.loadingTitle');
      subtitle.textContent = '';
      face.replaceChildren();
      if (store.state.chatsLoaded && !lookedUp) {
        lookedUp = true;
        // A 404 removes the chat from the store, and the shell then leaves this view.
        sync.fetchChat(chatId).catch(() => {});
      }
      return;
    }
    const typers = store.typers(chatId);
    title.textContent = people.chatTitle(chat);
    if (chat.type === 'group') subtitle.textContent = tn('conv.members', chat.participants.length);
    else subtitle.textContent = typers.length ? t('typing.short') : presence(people.user(people.peerOf(chat)));
    face.replaceChildren(avatar(people.chatFace(chat), 'sm'));
    const infoLabel = chat.type === 'group' ? t('conv.groupInfo') : t('conv.contactInfo');
    infoButton.setAttribute('aria-label', infoLabel);
    infoButton.title = infoLabel;
    typing.textContent = typers.length ? typingText(typers) : '';
    typing.hidden = typers.length === 0;
  }

  function markIfVisible() {
    const visible = document.visibilityState === 'visible';
    const arriving = visible && store.state.viewing !== chatId;
    store.setViewing(visible ? chatId : null);
    if (visible) sync.markRead(chatId);
    if (arriving) notifications.clearShown(chatId);
  }

  const renderAll = batched(() => {
    renderHeader();
    list.render();
    markIfVisible();
  });
  const renderTop = batched(renderHeader);

  const forThisChat = (fn) => (id) => {
    if (id === chatId) fn();
  };
  const unsubscribers = [
    store.on('messages', forThisChat(renderAll)),
    store.on('reads', forThisChat(renderAll)),
    store.on('typing', forThisChat(renderTop)),
    store.on('chats', renderAll),
    store.on('user', renderAll),
  ];
  document.addEventListener('visibilitychange', markIfVisible);

  sync.loadHistory(chatId);
  const stopMatches = watchMatches(chatId, list.showSeq);
  renderHeader();
  list.render();
  markIfVisible();
  composer.fit();
  // On phones, focusing the textarea would pop the keyboard over the history; focus the title.
  if (isDesktop()) composer.textarea.focus({ preventScroll: true });
  else title.focus({ preventScroll: true });

  return () => {
    unsubscribers.forEach((off) => off());
    stopMatches();
    document.removeEventListener('visibilitychange', markIfVisible);
    if (store.state.viewing === chatId) store.setViewing(null);
    // A menu or picker for this chat's messages goes with it.
    document.querySelector('dialog.sheet[open]')?.close();
    composer.destroy();
    pinned.destroy();
    list.destroy();
    root.remove();
  };
}
