// The chat list: newest activity first, with avatar, presence dot, last message, time, unread
// badge and a muted mark; filtered by the search box; kept live from the store. Above it, the
// offer to turn notifications on.
import { h, patch, batched } from '../dom.js';
import { icon } from '../icons.js';
import { t, tn } from '../i18n.js';
import * as store from '../store.js';
import * as router from '../router.js';
import * as people from '../people.js';
import { kindIcon, listTime, summary } from '../format.js';
import { errorText } from '../errors.js';
import { loadChats } from '../sync.js';
import { avatar } from './avatar.js';
import { installButton } from './install-app.js';
import { mountPushOffer } from './push-offer.js';
import { mountMessageSearch } from './search.js';

function preview(chat) {
  const typers = store.typers(chat.id);
  if (typers.length) {
    const text = chat.type === 'group' ? t('typing.one', { name: people.firstName(typers[0]) }) : t('typing.short');
    return { text, typing: true };
  }
  const last = chat.lastMessage;
  if (!last) return { text: chat.type === 'group' ? t('list.groupCreated') : t('list.noMessages') };
  const body = summary(last);
  const kind = kindIcon(last);
  if (last.senderId === store.state.me?.id) return { text: t('list.you', { text: body }), kind };
  if (chat.type === 'group') return { text: `${people.firstName(last.senderId)}: ${body}`, kind };
  return { text: body, kind };
}

function openChat(event) {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  // Chat to chat replaces the entry, so Back always leads to the list.
  router.navigate(`/chat/${event.currentTarget.dataset.chatId}`, { replace: Boolean(router.current().chatId) });
}

function chatItem(chat, active) {
  const face = people.chatFace(chat);
  const { text, typing, kind } = preview(chat);
  const when = chat.lastMessage?.createdAt || chat.updatedAt;
  const unread = chat.unreadCount;
  return h('li', null,
    h('a', {
      href: `/chat/${chat.id}`,
      class: `chat-item${active ? ' active' : ''}${unread ? ' has-unread' : ''}`,
      'data-testid': 'chat-item',
      'data-chat-id': chat.id,
      'aria-current': active ? 'page' : null,
      onclick: openChat,
    },
    avatar(face),
    h('span', { class: 'chat-item-body' },
      h('span', { class: 'chat-item-row' },
        h('span', { class: 'chat-item-name', dir: 'auto' }, people.chatTitle(chat)),
        h('time', { class: 'chat-item-time', datetime: when }, listTime(when))),
      h('span', { class: 'chat-item-row' },
        h('span', { class: `chat-item-preview${typing ? ' is-typing' : ''}`, dir: 'auto' },
          kind ? icon(kind, 'icon preview-kind') : null, text),
        chat.muted ? h('span', { class: 'muted-mark', 'data-testid': 'muted', title: t('list.muted') }, icon('bellOff'), h('span', { class: 'sr-only' }, t('list.muted'))) : null,
        unread ? h('span', { class: `badge${chat.muted ? ' quiet' : ''}`, 'data-testid': 'unread' }, unread > 99 ? '99+' : String(unread)) : null,
        unread ? h('span', { class: 'sr-only' }, tn('list.unread', unread)) : null))));
}

export function mountChatList(container) {
  const me = store.state.me;
  // Named by hidden text, not aria-label: the initials it shows are only a picture of the person.
  const profileButton = h('button', { type: 'button', class: 'icon-btn avatar-btn', 'data-testid': 'profile', title: t('list.profile'), onclick: () => router.navigate('/profile') });
  const search = h('input', { type: 'search', class: 'search-input', dir: 'auto', placeholder: t('list.search'), 'aria-label': t('list.search'), autocomplete: 'off' });
  const list = h('ul', { class: 'chat-list', 'data-testid': 'chat-list', 'aria-label': t('list.title') });
  const empty = h('div', { class: 'empty', hidden: true });
  const title = h('h1', { class: 'bar-title', tabindex: -1 }, t('list.title'));
  const install = installButton();
  const offer = mountPushOffer();
  const found = mountMessageSearch(search);

  const root = h('section', { class: 'panel', 'aria-label': t('list.title') },
    h('header', { class: 'bar' },
      profileButton,
      title,
      install.el,
      h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'new-group', 'aria-label': t('list.newGroup'), title: t('list.newGroup'), onclick: () => router.navigate('/new-group') }, icon('group')),
      h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'new-chat', 'aria-label': t('list.newChat'), title: t('list.newChat'), onclick: () => router.navigate('/new') }, icon('compose'))),
    h('div', { class: 'search' }, icon('search', 'icon search-icon'), search),
    offer.el,
    h('div', { class: 'panel-scroll' }, list, empty, found.el));
  container.append(root);

  const items = new Map(); // chatId → { signature, el }

  function emptyState() {
    if (store.state.chatsError && !store.state.chatsLoaded) {
      return [h('p', null, errorText(store.state.chatsError)),
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => loadChats().catch(() => {}) }, t('common.tryAgain'))];
    }
    if (!store.state.chatsLoaded) return [h('p', { class: 'muted' }, t('list.loading'))];
    if (search.value.trim()) return [h('p', { class: 'muted' }, t('list.noMatch', { query: search.value.trim() }))];
    return [icon('chat', 'icon empty-icon'), h('h2', null, t('list.emptyTitle')), h('p', { class: 'muted' }, t('list.emptyText')),
      h('button', { type: 'button', class: 'btn btn-primary', onclick: () => router.navigate('/new') }, t('list.startChat'))];
  }

  function render() {
    const mine = store.state.me || me;
    profileButton.replaceChildren(avatar({ id: mine.id, name: mine.name, url: mine.avatar }, 'sm'), h('span', { class: 'sr-only' }, t('list.profile')));
    const query = search.value.trim().toLowerCase();
    const activeId = router.current().chatId;
    const chats = store.sortedChats().filter((chat) => {
      if (!query) return true;
      const peer = people.user(people.peerOf(chat));
      return [people.chatTitle(chat), peer?.phoneNumber].some((s) => s?.toLowerCase().includes(query));
    });
    const focusedId = document.activeElement?.dataset?.chatId;
    const nodes = chats.map((chat) => {
      const when = listTime(chat.lastMessage?.createdAt || chat.updatedAt);
      const signature = JSON.stringify([chat, when, people.chatFace(chat), people.chatTitle(chat), preview(chat), chat.id === activeId]);
      let entry = items.get(chat.id);
      if (entry?.signature !== signature) {
        entry = { signature, el: chatItem(chat, chat.id === activeId) };
        items.set(chat.id, entry);
      }
      return entry.el;
    });
    const shown = new Set(chats.map((chat) => chat.id));
    for (const id of items.keys()) if (!shown.has(id)) items.delete(id);
    patch(list, nodes);
    if (focusedId && document.activeElement === document.body) list.querySelector(`[data-chat-id="${CSS.escape(focusedId)}"]`)?.focus();
    empty.hidden = chats.length > 0;
    if (!empty.hidden) empty.replaceChildren(...emptyState());
  }

  const schedule = batched(render);
  search.addEventListener('input', schedule);
  const unsubscribers = [
    store.on('chats', schedule),
    store.on('user', schedule),
    store.on('typing', schedule),
    router.onRoute(schedule),
  ];
  // Relative times ("Yesterday") move on by themselves.
  const clock = setInterval(schedule, 60_000);
  render();

  return () => {
    clearInterval(clock);
    unsubscribers.forEach((off) => off());
    install.destroy();
    offer.destroy();
    found.destroy();
    root.remove();
  };
}
