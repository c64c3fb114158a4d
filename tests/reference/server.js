/*
 * Clavox reference server: the original Node.js design (Express + Socket.IO +
 * jsonwebtoken), with every record kept in memory instead of MongoDB.
 *
 * It is the yardstick of `clavox bench --url http://127.0.0.1:5100 --protocol
 * socketio`: what a user of the original design would run, speaking the
 * subset of Clavox's wire contract (SPEC.md) that the bench uses, so
 * both servers can be measured under the same load. It is deliberately lean
 * (no request logging, no rate limits, no persistence) to be generous to it.
 *
 *   cd tests/reference && npm ci
 *   OTP_WEBHOOK_URL=http://127.0.0.1:5200/otp node server.js
 *
 * Settings: PORT (5100), HOST (127.0.0.1), OTP_WEBHOOK_URL (required: where
 * one-time codes are POSTed), JWT_SECRET (random per run).
 */
'use strict';

const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const jwt = require('jsonwebtoken');
const { Server } = require('socket.io');

const PORT = Number(process.env.PORT || 5100);
const HOST = process.env.HOST || '127.0.0.1';
const OTP_WEBHOOK_URL = process.env.OTP_WEBHOOK_URL;
const JWT_SECRET = process.env.JWT_SECRET || crypto.randomBytes(32).toString('hex');
const OTP_TTL_MS = 5 * 60 * 1000;
const TOKEN_TTL_S = 15 * 60;
const MAX_CONTENT = 4096;

if (!OTP_WEBHOOK_URL) {
  console.error('OTP_WEBHOOK_URL is required: the server delivers one-time codes there');
  process.exit(1);
}

// ---- In-memory store (what MongoDB held in the original) ----
const users = new Map(); // id -> User
const userByPhone = new Map(); // phoneNumber -> User
const otps = new Map(); // phoneNumber -> { code, expiresAt }
const chats = new Map(); // id -> Chat
const messagesOf = new Map(); // chatId -> [Message], index = seq - 1
const byClientId = new Map(); // `${chatId}:${senderId}:${clientId}` -> Message
const chatsOf = new Map(); // userId -> Set(chatId)
const privatePairs = new Map(); // 'idA:idB' (sorted) -> chatId
const socketCount = new Map(); // userId -> number of authenticated sockets

// ObjectId layout: 4-byte seconds, 5 random bytes, 3-byte counter.
const processBytes = crypto.randomBytes(5).toString('hex');
let counter = crypto.randomInt(0xffffff);
function objectId() {
  counter = (counter + 1) & 0xffffff;
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0');
  return seconds + processBytes + counter.toString(16).padStart(6, '0');
}

class ApiError extends Error {
  constructor(status, code, message, extra) {
    super(message);
    Object.assign(this, { status, code, extra });
  }
}
const invalid = (field, message) =>
  new ApiError(400, 'validation_failed', `${field} ${message}`, { errors: [{ field, message }] });
const notFound = () => new ApiError(404, 'not_found', 'not found');
const unauthorized = () => new ApiError(401, 'unauthorized', 'missing, bad or expired token');

function userFromToken(token) {
  try {
    const { sub } = jwt.verify(String(token), JWT_SECRET, { algorithms: ['HS256'] });
    const user = users.get(sub);
    if (user) return user;
  } catch {
    // Falls through: any verification failure is the same 401.
  }
  throw unauthorized();
}

function chatFor(userId, chatId) {
  const chat = chats.get(chatId);
  // Not a participant looks exactly like no such chat (no existence leak).
  if (!chat || !chat.participants.includes(userId)) throw notFound();
  return chat;
}

function addMessage(sender, chatId, body) {
  const chat = chatFor(sender.id, chatId);
  const { content, type = 'text', metadata = null, clientId = null } = body || {};
  if (type !== 'text') throw invalid('type', 'must be text');
  if (typeof content !== 'string' || !content.trim()) throw invalid('content', 'must not be empty');
  if ([...content].length > MAX_CONTENT) throw invalid('content', `must be at most ${MAX_CONTENT} characters`);
  if (metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata))) {
    throw invalid('metadata', 'must be an object');
  }
  if (clientId !== null && (typeof clientId !== 'string' || !clientId || clientId.length > 64)) {
    throw invalid('clientId', 'must be 1-64 characters');
  }
  const key = clientId && `${chatId}:${sender.id}:${clientId}`;
  if (key && byClientId.has(key)) return { message: byClientId.get(key), created: false };

  const list = messagesOf.get(chatId);
  const now = new Date().toISOString();
  const message = {
    id: objectId(), chatId, senderId: sender.id, seq: list.length + 1, content, type,
    metadata, clientId, isRead: false, readBy: [], createdAt: now, updatedAt: now,
  };
  list.push(message);
  if (key) byClientId.set(key, message);
  chat.lastMessage = message;
  chat.updatedAt = now;
  io.to(`chat:${chatId}`).emit('new_message', message);
  return { message, created: true };
}

// ---- REST ----
const app = express();
app.disable('x-powered-by');
app.set('etag', false); // message pages change constantly; hashing them is wasted work
app.use(express.json({ limit: '64kb' }));

// Express 4 does not catch rejected promises, so async handlers go through this.
const route = (handler) => (req, res, next) => Promise.resolve(handler(req, res)).catch(next);

app.get(['/healthz', '/readyz'], (req, res) => res.json({ status: 'ok' }));

app.post('/api/auth/send-otp', route(async (req, res) => {
  // Spaces, dashes and brackets are formatting; what remains must be E.164-like.
  const phoneNumber = String(req.body?.phoneNumber ?? '').replace(/[\s\-().]/g, '');
  if (!/^\+\d{8,15}$/.test(phoneNumber)) throw invalid('phoneNumber', 'must be + and 8-15 digits');
  const code = String(crypto.randomInt(1000000)).padStart(6, '0');
  const expiresAt = Date.now() + OTP_TTL_MS;
  otps.set(phoneNumber, { code, expiresAt });
  try {
    // Node's global fetch keeps connections to the webhook alive between calls.
    const response = await fetch(OTP_WEBHOOK_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        phoneNumber, otp: code, message: `Your Clavox code is ${code}`,
        expiresAt: new Date(expiresAt).toISOString(),
      }),
      signal: AbortSignal.timeout(5000),
    });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`webhook answered ${response.status}`);
  } catch {
    otps.delete(phoneNumber); // an undelivered code must not stay usable
    throw new ApiError(502, 'otp_delivery_failed', 'the code could not be delivered');
  }
  res.json({ message: 'OTP sent', expiresIn: OTP_TTL_MS / 1000, retryAfter: 30 });
}));

app.post('/api/auth/verify-otp', (req, res) => {
  const phoneNumber = String(req.body?.phoneNumber ?? '').replace(/[\s\-().]/g, '');
  const otp = String(req.body?.otp ?? '');
  const pending = otps.get(phoneNumber);
  if (pending && pending.expiresAt < Date.now()) {
    otps.delete(phoneNumber);
    throw new ApiError(400, 'otp_expired', 'the code has expired');
  }
  const ok = pending && otp.length === 6 &&
    crypto.timingSafeEqual(Buffer.from(otp), Buffer.from(pending.code));
  if (!ok) throw new ApiError(400, 'invalid_otp', 'wrong code');
  otps.delete(phoneNumber); // single use

  let user = userByPhone.get(phoneNumber);
  const isNewUser = !user;
  if (!user) {
    const now = new Date().toISOString();
    user = {
      id: objectId(), phoneNumber, name: null, avatar: null, isVerified: true,
      isOnline: false, lastSeen: null, createdAt: now, updatedAt: now,
    };
    users.set(user.id, user);
    userByPhone.set(phoneNumber, user);
    chatsOf.set(user.id, new Set());
  }
  const accessToken = jwt.sign({}, JWT_SECRET, {
    algorithm: 'HS256', subject: user.id, expiresIn: TOKEN_TTL_S,
  });
  const refreshToken = crypto.randomBytes(32).toString('hex');
  res.json({ accessToken, refreshToken, expiresIn: TOKEN_TTL_S, user, isNewUser });
});

// Everything below needs a valid access token.
app.use('/api', (req, res, next) => {
  const [scheme, token] = (req.headers.authorization || '').split(' ');
  if (scheme !== 'Bearer' || !token) throw unauthorized();
  req.user = userFromToken(token);
  next();
});

app.get('/api/users/profile', (req, res) => res.json(req.user));

app.post('/api/chats', (req, res) => {
  const { participants, type, name } = req.body || {};
  if (!Array.isArray(participants) || participants.some((p) => typeof p !== 'string')) {
    throw invalid('participants', 'must be a list of user ids');
  }
  if (type !== 'private' && type !== 'group') throw invalid('type', 'must be private or group');
  const members = [...new Set([req.user.id, ...participants])];
  const unknown = members.find((id) => !users.has(id));
  if (unknown) throw new ApiError(400, 'unknown_user', `no user ${unknown}`);
  if (type === 'private' && members.length !== 2) {
    throw invalid('participants', 'a private chat is between you and exactly one other user');
  }
  if (type === 'group') {
    if (typeof name !== 'string' || !name.trim() || name.trim().length > 64) throw invalid('name', 'must be 1-64 characters');
    if (members.length < 2 || members.length > 256) throw invalid('participants', 'a group has 2-256 members');
  }
  const pairKey = type === 'private' && [...members].sort().join(':');
  if (pairKey && privatePairs.has(pairKey)) return res.status(200).json(chats.get(privatePairs.get(pairKey)));

  const now = new Date().toISOString();
  const chat = {
    id: objectId(), type, participants: members, admins: type === 'group' ? [req.user.id] : [],
    name: type === 'group' ? name.trim() : null, avatar: null, createdBy: req.user.id,
    lastMessage: null, unreadCount: 0, createdAt: now, updatedAt: now,
  };
  chats.set(chat.id, chat);
  messagesOf.set(chat.id, []);
  if (pairKey) privatePairs.set(pairKey, chat.id);
  for (const id of members) {
    chatsOf.get(id).add(chat.id);
    // Sockets already connected start receiving this chat's events at once.
    io.in(`user:${id}`).socketsJoin(`chat:${chat.id}`);
  }
  res.status(201).json(chat);
});

app.get('/api/chats', (req, res) => {
  const list = [...chatsOf.get(req.user.id)].map((id) => chats.get(id));
  list.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0));
  res.json({ chats: list });
});

function wholeNumber(query, field, fallback, min, max) {
  if (query[field] === undefined) return fallback;
  const value = Number(query[field]);
  if (!/^\d+$/.test(query[field]) || value < min || value > max) {
    throw invalid(field, `must be a whole number from ${min} to ${max}`);
  }
  return value;
}

app.get('/api/chats/:chatId/messages', (req, res) => {
  chatFor(req.user.id, req.params.chatId);
  const list = messagesOf.get(req.params.chatId);
  const limit = wholeNumber(req.query, 'limit', 20, 1, 100);
  const before = wholeNumber(req.query, 'before', null, 0, Number.MAX_SAFE_INTEGER);
  const after = wholeNumber(req.query, 'after', null, 0, Number.MAX_SAFE_INTEGER);
  const page = wholeNumber(req.query, 'page', null, 1, Number.MAX_SAFE_INTEGER);
  if ([before, after, page].filter((v) => v !== null).length > 1) {
    throw invalid('page', 'use one of page, before and after');
  }
  // seq = index + 1 with no gaps, so any page is a slice: no scan of the chat.
  let start, end, hasMore;
  if (after !== null) {
    start = Math.min(after, list.length);
    end = Math.min(start + limit, list.length);
    hasMore = end < list.length;
  } else {
    end = before !== null ? Math.min(before - 1, list.length) : list.length - ((page || 1) - 1) * limit;
    end = Math.max(end, 0);
    start = Math.max(end - limit, 0);
    hasMore = start > 0;
  }
  const cursor = before !== null || after !== null;
  res.json({ messages: list.slice(start, end), page: cursor ? null : page || 1, limit, hasMore });
});

app.post('/api/chats/:chatId/messages', (req, res) => {
  const { message, created } = addMessage(req.user, req.params.chatId, req.body);
  res.status(created ? 201 : 200).json(message);
});

app.use('/api', (req, res) => res.status(404).json({ error: 'no such endpoint', code: 'not_found' }));

// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  if (err instanceof ApiError) {
    if (err.status === 401) res.set('WWW-Authenticate', 'Bearer');
    return res.status(err.status).json({ error: err.message, code: err.code, ...err.extra });
  }
  if (err.type === 'entity.parse.failed') return res.status(400).json({ error: 'the body is not JSON', code: 'invalid_json' });
  if (err.type === 'entity.too.large') return res.status(413).json({ error: 'the body is too large', code: 'payload_too_large' });
  console.error(err);
  res.status(500).json({ error: 'internal error', code: 'internal' });
});

// ---- Socket.IO ----
const server = http.createServer(app);
const io = new Server(server, { cors: { origin: true } });

// A token in the handshake authenticates at once; without one the socket must
// send join_user first (the original design's flow).
io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (!token) return next();
  try {
    socket.data.user = userFromToken(token);
    next();
  } catch (err) {
    next(Object.assign(new Error(err.message), { data: { code: 'unauthorized' } }));
  }
});

function goOnline(socket) {
  const user = socket.data.user;
  const rooms = [...chatsOf.get(user.id)].map((id) => `chat:${id}`);
  // Every chat of the user, so new_message arrives without join_chat (as Clavox does).
  socket.join([`user:${user.id}`, ...rooms]);
  const count = (socketCount.get(user.id) || 0) + 1;
  socketCount.set(user.id, count);
  if (count === 1) {
    user.isOnline = true;
    if (rooms.length) socket.to(rooms).emit('user_status', { userId: user.id, status: 'online', lastSeen: user.lastSeen });
  }
  socket.once('disconnect', () => {
    const left = socketCount.get(user.id) - 1;
    if (left > 0) return socketCount.set(user.id, left);
    socketCount.delete(user.id);
    user.isOnline = false;
    user.lastSeen = new Date().toISOString();
    const now = [...chatsOf.get(user.id)].map((id) => `chat:${id}`);
    if (now.length) io.to(now).emit('user_status', { userId: user.id, status: 'offline', lastSeen: user.lastSeen });
  });
}

io.on('connection', (socket) => {
  if (socket.data.user) goOnline(socket);

  // Every event answers through its ack with exactly one object: the result
  // or {error, code}. Events other than join_user need an authenticated socket.
  const on = (event, handler) => socket.on(event, (data, ack) => {
    if (typeof data === 'function') [data, ack] = [{}, data];
    const reply = typeof ack === 'function' ? ack : () => {};
    try {
      if (event !== 'join_user' && !socket.data.user) throw unauthorized();
      reply(handler(data || {}));
    } catch (err) {
      if (!(err instanceof ApiError)) console.error(err);
      reply(err instanceof ApiError ? { error: err.message, code: err.code } : { error: 'internal error', code: 'internal' });
    }
  });

  on('join_user', ({ token, userId }) => {
    const user = userFromToken(token);
    if (userId !== undefined && userId !== user.id) throw new ApiError(403, 'forbidden', 'userId is not the token\'s user');
    if (socket.data.user && socket.data.user.id !== user.id) throw new ApiError(403, 'forbidden', 'this socket belongs to another user');
    if (!socket.data.user) {
      socket.data.user = user;
      goOnline(socket);
    }
    return { user };
  });
  on('join_chat', ({ chatId }) => (chatFor(socket.data.user.id, chatId), { chatId }));
  on('leave_chat', ({ chatId }) => (chatFor(socket.data.user.id, chatId), { chatId }));
  on('send_message', (data) => addMessage(socket.data.user, data.chatId, data).message);
  const typing = (isTyping) => ({ chatId }) => {
    const userId = socket.data.user.id;
    chatFor(userId, chatId);
    io.to(`chat:${chatId}`).except(`user:${userId}`).emit('user_typing', { chatId, userId, isTyping });
    return {};
  };
  on('typing_start', typing(true));
  on('typing_stop', typing(false));
  on('ping', () => ({}));
});

server.listen(PORT, HOST, () => console.log(`reference listening on http://${HOST}:${PORT}`));

function shutdown() {
  // io.close() disconnects every socket and closes the HTTP server.
  io.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
