// Details of a chat. Groups: members with admin badges; admins rename (PATCH), add and remove
// members; everyone can leave. Private chats: the other person's number and presence. Both: mute
// and unmute notifications (PUT / DELETE …/mute).
// Membership changes arrive live as chat_updated and re-render this view.
import { h, setBusy, batched } from '../dom.js';
import { icon } from '../icons.js';
import { t, tn } from '../i18n.js';
import * as api from '../api.js';
import * as store from '../store.js';
import * as sync from '../sync.js';
import * as router from '../router.js';
import * as people from '../people.js';
import { codePoints, presence } from '../format.js';
import { errorText } from '../errors.js';
import { avatar } from './avatar.js';
import { panelHeader } from './panel.js';
import { memberPicker } from './member-picker.js';
import { toast } from './notify.js';
import { groupInvites } from './group-invite.js';
import { blockControl } from './block.js';

const GROUP_ERRORS = {
  forbidden: () => t('info.notAdmin'),
  group_full: () => t('info.groupFull'),
  unknown_user: () => t('newGroup.unknownUser'),
};

// Group changes answer with the chat or nothing; either way the stored chat ends up current.
async function applyChange(chatId, change) {
  const answer = await change();
  if (answer?.participants) store.upsertChat(answer);
  else await sync.fetchChat(chatId);
}

export function mountChatInfo(container, chatId) {
  const me = () => store.state.me?.id;
  const chatNow = () => store.state.chats.get(chatId);
  const isAdmin = () => Boolean(chatNow()?.admins?.includes(me()));

  const top = h('div', { class: 'info-top' });
  const members = h('ul', { class: 'people-list', 'aria-label': t('info.members') });
  const membersTitle = h('h2', { class: 'section-title' });
  const actionError = h('p', { class: 'form-error', role: 'alert' });

  // Rename (admins only). Built once so typing is never wiped by a live update.
  const nameInput = h('input', { id: 'group-rename', class: 'input', dir: 'auto', maxlength: 64, autocomplete: 'off' });
  const renameButton = h('button', { type: 'submit', class: 'btn btn-secondary' }, t('info.rename'));
  const renameError = h('p', { class: 'form-error', role: 'alert' });
  const renameForm = h('form', { class: 'stack', novalidate: true, onsubmit: rename },
    h('label', { class: 'label', for: 'group-rename' }, t('info.nameLabel')),
    h('div', { class: 'inline-form' }, nameInput, renameButton),
    renameError);

  const picker = memberPicker({
    id: 'member-add-phone',
    phoneTestid: 'member-add-phone',
    addTestid: 'member-add',
    excluded: () => new Set(chatNow()?.participants || []),
    errors: GROUP_ERRORS,
    onAdd: (user) => applyChange(chatId, () => api.post(`/api/chats/${chatId}/participants`, { userIds: [user.id] })),
  });
  const addSection = h('div', { class: 'stack' }, h('h2', { class: 'section-title' }, t('info.addMembers')), picker.el);
  const muteButton = h('button', { type: 'button', class: 'btn btn-secondary btn-block', 'data-testid': 'mute-toggle', onclick: toggleMute });
  const muteHelp = h('p', { class: 'help' });
  const muteError = h('p', { class: 'form-error', role: 'alert' });
  const muteSection = h('div', { class: 'stack', hidden: true }, h('h2', { class: 'section-title' }, t('info.notifications')), muteButton, muteHelp, muteError);
  const leaveButton = h('button', { type: 'button', class: 'btn btn-danger btn-block', onclick: leave }, icon('logout'), t('info.leave'));
  const membersSection = h('div', { class: 'stack' }, membersTitle, members, actionError);
  const invites = groupInvites(chatId);
  const blocking = blockControl();
  const groupParts = h('div', { class: 'stack info-sections' }, renameForm, addSection, invites.el, membersSection, leaveButton);

  const title = t('info.title');
  const root = h('section', { class: 'panel info', 'aria-label': title },
    panelHeader(title, () => router.back(`/chat/${chatId}`)),
    h('div', { class: 'panel-scroll panel-body' }, top, muteSection, groupParts, blocking.el));
  container.append(root);

  async function rename(event) {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name || codePoints(name) > 64) {
      renameError.textContent = t('newGroup.nameMissing');
      return;
    }
    renameError.textContent = '';
    setBusy(renameButton, true);
    try {
      await applyChange(chatId, () => api.patch(`/api/chats/${chatId}`, { name }));
      toast(t('info.renamed'));
    } catch (err) {
      renameError.textContent = errorText(err, GROUP_ERRORS);
    } finally {
      setBusy(renameButton, false);
    }
  }

  async function toggleMute() {
    const chat = chatNow();
    if (!chat) return;
    const muted = !chat.muted;
    muteError.textContent = '';
    setBusy(muteButton, true);
    try {
      const path = `/api/chats/${encodeURIComponent(chatId)}/mute`;
      await (muted ? api.put(path) : api.del(path));
      if (chatNow()) store.upsertChat({ ...chatNow(), muted });
      toast(muted ? t('info.mutedDone') : t('info.unmutedDone'));
    } catch (err) {
      muteError.textContent = errorText(err);
    } finally {
      setBusy(muteButton, false);
    }
  }

  function renderMute(chat) {
    muteSection.hidden = false;
    muteButton.replaceChildren(icon(chat.muted ? 'bell' : 'bellOff'), chat.muted ? t('info.unmute') : t('info.mute'));
    muteHelp.textContent = chat.muted ? t('info.mutedHelp') : t('info.muteHelp');
  }

  async function remove(userId) {
    if (!window.confirm(t('info.confirmRemove', { name: people.nameOf(userId) }))) return;
    actionError.textContent = '';
    try {
      await applyChange(chatId, () => api.del(`/api/chats/${chatId}/participants/${userId}`));
    } catch (err) {
      actionError.textContent = errorText(err, GROUP_ERRORS);
    }
  }

  async function leave() {
    if (!window.confirm(t('info.confirmLeave'))) return;
    actionError.textContent = '';
    setBusy(leaveButton, true);
    try {
      await api.del(`/api/chats/${chatId}/participants/${me()}`);
      router.navigate('/', { replace: true });
      store.removeChat(chatId);
      toast(t('info.left'));
    } catch (err) {
      setBusy(leaveButton, false);
      actionError.textContent = errorText(err, GROUP_ERRORS);
    }
  }

  function memberItem(chat, userId) {
    const u = people.user(userId);
    const admin = chat.admins.includes(userId);
    const self = userId === me();
    return h('li', { class: 'person' },
      avatar({ id: userId, name: u?.name, url: u?.avatar, online: Boolean(u?.isOnline) }, 'sm'),
      h('span', { class: 'person-text' },
        h('span', { class: 'person-name', dir: 'auto' }, self ? t('info.you', { name: people.nameOf(userId) }) : people.nameOf(userId)),
        h('span', { class: 'person-sub' }, u?.phoneNumber || '')),
      admin ? h('span', { class: 'tag' }, t('info.admin')) : null,
      isAdmin() && !self
        ? h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('members.remove', { name: people.nameOf(userId) }), onclick: () => remove(userId) }, icon('close'))
        : null);
  }

  function render() {
    const chat = chatNow();
    if (!chat) {
      top.replaceChildren(h('p', { class: 'muted' }, t('conv.loadingTitle')));
      groupParts.hidden = true;
      muteSection.hidden = true;
      return;
    }
    const group = chat.type === 'group';
    const peer = group ? null : people.user(people.peerOf(chat));
    top.replaceChildren(
      avatar(people.chatFace(chat), 'xl'),
      h('h2', { class: 'info-name' }, people.chatTitle(chat)),
      h('p', { class: 'muted' }, group ? tn('conv.members', chat.participants.length) : [peer?.phoneNumber, presence(peer)].filter(Boolean).join(' · ')));
    renderMute(chat);
    groupParts.hidden = !group;
    blocking.update(group ? null : people.peerOf(chat));
    if (!group) return;
    invites.update(isAdmin());
    renameForm.hidden = !isAdmin();
    addSection.hidden = !isAdmin();
    if (document.activeElement !== nameInput) nameInput.value = chat.name || '';
    membersTitle.textContent = tn('conv.members', chat.participants.length);
    // Admins first, then in the order they joined.
    const ordered = [...chat.participants].sort((a, b) => Number(chat.admins.includes(b)) - Number(chat.admins.includes(a)));
    members.replaceChildren(...ordered.map((id) => memberItem(chat, id)));
    picker.refresh();
  }

  const schedule = batched(render);
  const unsubscribers = [store.on('chats', schedule), store.on('user', schedule)];
  if (!chatNow()) sync.fetchChat(chatId).catch(() => {});
  render();
  root.querySelector('h1')?.focus({ preventScroll: true });

  return () => {
    unsubscribers.forEach((off) => off());
    root.remove();
  };
}
