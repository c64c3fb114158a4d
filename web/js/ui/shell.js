// The signed-in layout: connection banner, a side pane (chat list or a panel) and a main pane (a
// conversation, chat info or a welcome). On phones only one pane shows, chosen by the route, and
// that pane is the page's main landmark; on wider screens the main pane is. Escape closes a
// panel (chat info, new chat, new group, profile) as its back button would.
import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import * as router from '../router.js';
import * as store from '../store.js';
import { mountBanner } from './banner.js';
import { mountChatList } from './chat-list.js';
import { mountNewChat } from './new-chat.js';
import { mountNewGroup } from './new-group.js';
import { mountProfile } from './profile.js';
import { mountConversation } from './conversation.js';
import { mountChatInfo } from './chat-info.js';
import { toast } from './notify.js';
import { offerHomeScreenHint } from './app-notices.js';
import { mountAdminConsole } from './admin/console.js';
import { mountInviteView } from './invite-page.js';
import { watchLoginCodes } from './login-code.js';

const SIDE_VIEWS = { list: mountChatList, 'new-chat': mountNewChat, 'new-group': mountNewGroup, profile: mountProfile };
// Screens that are not about one chat yet take the main pane (all of a phone's screen).
const MAIN_VIEWS = { admin: mountAdminConsole, invite: mountInviteView };

function mountWelcome(container) {
  const el = h('div', { class: 'welcome' },
    icon('chat', 'icon welcome-icon'),
    h('h2', null, t('welcome.title')),
    h('p', { class: 'muted' }, t('welcome.text')));
  container.append(el);
  return () => el.remove();
}

export function mountShell(root) {
  const banner = mountBanner();
  const side = h('div', { class: 'side' });
  const main = h('div', { class: 'main' });
  const phoneLayout = window.matchMedia('(max-width: 767.98px)');
  const shell = h('div', { class: 'shell' }, side, main);
  root.append(banner.el, shell);
  const hideHint = offerHomeScreenHint();
  const stopLoginCodes = watchLoginCodes();

  const slots = { side: { key: null, destroy: null }, main: { key: null, destroy: null } };
  let lastChatId = null;

  function swap(slot, container, key, mount) {
    if (slot.key === key) return;
    slot.destroy?.();
    container.replaceChildren();
    slot.key = key;
    slot.destroy = mount(container);
  }

  function markMain() {
    const mainPane = phoneLayout.matches && shell.dataset.pane === 'side' ? side : main;
    for (const pane of [side, main]) {
      if (pane === mainPane) pane.setAttribute('role', 'main');
      else pane.removeAttribute('role');
    }
  }

  function onKey(event) {
    if (event.key !== 'Escape' || event.defaultPrevented || document.querySelector('dialog[open]')) return;
    const route = router.current();
    const fallback = { info: `/chat/${route.chatId}`, 'new-chat': '/', 'new-group': '/', profile: '/' }[route.view];
    if (!fallback) return;
    event.preventDefault();
    router.back(fallback);
  }

  function show(route) {
    const pane = route.chatId || MAIN_VIEWS[route.view] ? 'main' : 'side';
    const paneChanged = shell.dataset.pane !== pane;
    // Set the pane first, so views mount visible and can measure themselves.
    shell.dataset.pane = pane;
    markMain();
    const sideKey = SIDE_VIEWS[route.view] ? route.view : 'list';
    swap(slots.side, side, sideKey, SIDE_VIEWS[sideKey]);
    const mainKey = route.chatId ? `${route.view}:${route.chatId}` : MAIN_VIEWS[route.view] ? `${route.view}:${route.inviteCode ?? ''}` : 'welcome';
    swap(slots.main, main, mainKey, (container) => {
      if (MAIN_VIEWS[route.view]) return MAIN_VIEWS[route.view](container, route);
      if (route.view === 'info') return mountChatInfo(container, route.chatId);
      if (route.view === 'chat') return mountConversation(container, route.chatId);
      return mountWelcome(container);
    });
    // Back on the list (phones): return focus to the chat just left.
    if (paneChanged && pane === 'side' && !side.contains(document.activeElement)) {
      const previous = lastChatId && side.querySelector(`[data-chat-id="${CSS.escape(lastChatId)}"]`);
      (previous || side.querySelector('h1'))?.focus({ preventScroll: true });
    }
    if (route.chatId) lastChatId = route.chatId;
  }

  const unsubscribers = [
    router.onRoute(show),
    store.on('removed', (chatId) => {
      if (router.current().chatId !== chatId) return;
      toast(t('conv.gone'));
      router.navigate('/', { replace: true });
    }),
  ];
  show(router.current());
  phoneLayout.addEventListener('change', markMain);
  document.addEventListener('keydown', onKey);

  return () => {
    phoneLayout.removeEventListener('change', markMain);
    document.removeEventListener('keydown', onKey);
    unsubscribers.forEach((off) => off());
    slots.side.destroy?.();
    slots.main.destroy?.();
    banner.destroy();
    hideHint();
    stopLoginCodes();
    shell.remove();
  };
}
