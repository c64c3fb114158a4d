// Drives the official socket.io-client against a running Clavox server, for
// tests/socketio.rs. Usage:
//
//   node client.mjs <server-url> <polling|default> <handshake|join_user>
//
// with CLAVOX_PHONE and CLAVOX_CODE (a one-time code already sent to that
// phone), CLAVOX_CHAT (a private chat with the peer) and CLAVOX_PEER (the
// peer's user id) in the environment. The peer is a /ws client that the Rust
// test drives. The script logs in through REST, connects, and writes one
// JSON line per step to stdout:
//
//   {"step":"ready","userId":...}   connected, joined; the peer may act now:
//                                   send a message, start typing, go offline
//   {"step":"peer_offline"}         all that was seen; the peer may come back
//                                   online now
//   {"result":{...}}                everything checked (the last check logs
//                                   out, which disconnects it); what was seen
//
// On any failure it writes the reason to stderr and exits with status 1.

import { io } from "socket.io-client";

const WAIT_MS = 10_000;

const [url, transportMode, authMode] = process.argv.slice(2);
const { CLAVOX_PHONE: phone, CLAVOX_CODE: code, CLAVOX_CHAT: chatId, CLAVOX_PEER: peerId } =
  process.env;
if (!url || !["polling", "default"].includes(transportMode) || !["handshake", "join_user"].includes(authMode)) {
  fail("usage: node client.mjs <server-url> <polling|default> <handshake|join_user>");
}
if (!phone || !code || !chatId || !peerId) {
  fail("CLAVOX_PHONE, CLAVOX_CODE, CLAVOX_CHAT and CLAVOX_PEER must be set");
}

function fail(message) {
  process.stderr.write(`socket.io client check failed: ${message}\n`);
  process.exit(1);
}

function check(condition, message, detail) {
  if (!condition) {
    fail(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
  }
}

function step(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

// Everything the server pushes, by event name, and waiters for what is to come.
const seen = new Map();
const waiters = [];

function record(name, data) {
  if (!seen.has(name)) seen.set(name, []);
  seen.get(name).push(data);
  for (const waiter of [...waiters]) {
    if (waiter.name === name && waiter.matches(data)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      clearTimeout(waiter.timer);
      waiter.resolve(data);
    }
  }
}

// The first `name` event (already seen or still to come) that `matches`.
function waitFor(name, matches = () => true, what = name) {
  const earlier = (seen.get(name) ?? []).find(matches);
  if (earlier !== undefined) return Promise.resolve(earlier);
  return new Promise((resolve, reject) => {
    const waiter = { name, matches, resolve };
    waiter.timer = setTimeout(() => {
      waiters.splice(waiters.indexOf(waiter), 1);
      reject(new Error(`no ${what} within ${WAIT_MS} ms`));
    }, WAIT_MS);
    waiters.push(waiter);
  });
}

async function request(socket, event, data) {
  return socket.timeout(WAIT_MS).emitWithAck(event, data);
}

function isError(ack, code) {
  return ack !== null && typeof ack === "object" && ack.code === code && typeof ack.error === "string";
}

async function connect(options) {
  const socket = io(url, { reconnection: false, forceNew: true, ...options });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connect within the wait")), WAIT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("connect_error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  return socket;
}

async function main() {
  // Log in through REST, as any client does.
  const response = await fetch(new URL("/api/auth/verify-otp", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ phoneNumber: phone, otp: code }),
  });
  const login = await response.json();
  check(response.status === 200, "verify-otp answers 200", login);
  const token = login.accessToken;
  const userId = login.user.id;

  const transports = transportMode === "polling" ? ["polling"] : undefined;
  const result = { userId, transportMode, authMode };

  if (authMode === "handshake") {
    // A bad handshake token refuses the connection.
    const refusal = await connect({ transports, auth: { token: "not-a-token" } }).then(
      (socket) => {
        socket.disconnect();
        return null;
      },
      (error) => error,
    );
    check(refusal !== null, "a bad handshake token is refused");
    check(refusal.message === "unauthorized", "the refusal says unauthorized", refusal.message);
    result.badTokenRefusal = refusal.message;
  }

  const socket = await connect({
    transports,
    auth: authMode === "handshake" ? { token } : {},
  });
  for (const name of ["new_message", "user_typing", "user_status", "message_read", "chat_updated", "error", "pong"]) {
    socket.on(name, (data) => record(name, data));
  }

  if (authMode === "join_user") {
    const early = await request(socket, "join_chat", { chatId });
    check(isError(early, "unauthorized"), "events before join_user are unauthorized", early);
    const earlyPing = await request(socket, "ping", {});
    check(isError(earlyPing, "unauthorized"), "a ping before join_user is unauthorized", earlyPing);
    const someoneElse = await request(socket, "join_user", { token, userId: peerId });
    check(isError(someoneElse, "forbidden"), "join_user naming someone else is forbidden", someoneElse);
    const joined = await request(socket, "join_user", { token, userId });
    check(joined?.user?.id === userId, "join_user acks {user}", joined);
  }
  const joinedChat = await request(socket, "join_chat", { chatId });
  check(joinedChat?.chatId === chatId, "join_chat acks {chatId}", joinedChat);
  step({ step: "ready", userId });

  // The /ws peer sends a message, types, goes offline and comes back.
  const fromPeer = await waitFor("new_message", (m) => m.senderId === peerId, "new_message from the /ws peer");
  check(fromPeer.chatId === chatId && typeof fromPeer.content === "string", "new_message carries the Message", fromPeer);
  const typing = await waitFor("user_typing", (t) => t.userId === peerId && t.isTyping === true, "user_typing of the peer");
  check(typing.chatId === chatId, "user_typing names the chat", typing);
  const offline = await waitFor("user_status", (s) => s.userId === peerId && s.status === "offline", "the peer going offline");
  check(typeof offline.lastSeen === "string", "user_status offline carries lastSeen", offline);
  step({ step: "peer_offline" });
  await waitFor("user_status", (s) => s.userId === peerId && s.status === "online", "the peer coming back online");
  result.received = { message: fromPeer, typing, offline };

  // This client's own events, each acknowledged.
  const content = `hello from socket.io over ${transportMode}`;
  const stored = await request(socket, "send_message", { chatId, content, clientId: `sio-${transportMode}` });
  check(stored?.senderId === userId && stored.content === content && Number.isInteger(stored.seq), "send_message acks the stored Message", stored);
  const echo = await waitFor("new_message", (m) => m.id === stored.id, "new_message of its own message");
  check(echo.seq === stored.seq, "its own new_message matches the ack", echo);
  // Many sends without waiting for each answer: stored in the order sent
  // (the server queues them together), each answered with its message.
  const burst = await Promise.all(
    Array.from({ length: 50 }, (_, i) => request(socket, "send_message", { chatId, content: `burst ${i}` })),
  );
  check(
    burst.every((m, i) => m?.content === `burst ${i}` && m.seq === stored.seq + 1 + i),
    "a burst of sends is stored in the order sent",
    burst.map((m) => m?.seq),
  );
  result.burst = burst.length;
  check(JSON.stringify(await request(socket, "typing_start", { chatId })) === "{}", "typing_start acks {}");
  check(JSON.stringify(await request(socket, "typing_stop", { chatId })) === "{}", "typing_stop acks {}");
  const read = await request(socket, "mark_read", { chatId, seq: stored.seq });
  check(read?.chatId === chatId && read.userId === userId && read.seq === stored.seq && typeof read.readAt === "string", "mark_read acks the read mark", read);
  check(JSON.stringify(await request(socket, "ping", {})) === "{}", "ping with a callback acks {}");
  socket.emit("ping");
  await waitFor("pong", () => true, "pong for a ping without a callback");

  // Failures: in the ack when there is a callback, else as an error event.
  const missing = await request(socket, "send_message", { chatId: "0123456789abcdef01234567", content: "x" });
  check(isError(missing, "not_found"), "a chat the caller is not in is not_found", missing);
  const invalid = await request(socket, "join_chat", { chatId: 42 });
  check(isError(invalid, "validation_failed"), "bad event data is validation_failed", invalid);
  socket.emit("no_such_event", {});
  const unknown = await waitFor("error", (e) => e.code === "unknown_event", "an error event for an unknown event");
  result.errors = { missing: missing.code, invalid: invalid.code, unknown: unknown.code };

  result.sent = stored;
  result.transport = socket.io.engine.transport.name;

  // Logging out ends the socket too, on either transport: a polling `sid`
  // is worth nothing once its login is over.
  const disconnected = new Promise((resolve) => socket.once("disconnect", resolve));
  const logout = await fetch(new URL("/api/auth/logout", url), {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  check(logout.status === 204, "logout answers 204", logout.status);
  await waitFor("error", (e) => e.code === "unauthorized", "an unauthorized error once logged out");
  const timer = setTimeout(() => fail("the server did not disconnect a logged-out socket"), WAIT_MS);
  result.afterLogout = await disconnected;
  clearTimeout(timer);
  step({ result });
}

const deadline = setTimeout(() => fail("the checks did not finish within 60 s"), 60_000);
main().then(
  () => {
    // No exit() here: Node exits once the disconnect has reached the server
    // (over polling it is one more HTTP request).
    clearTimeout(deadline);
  },
  (error) => fail(error?.stack ?? String(error)),
);
