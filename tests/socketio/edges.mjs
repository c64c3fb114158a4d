// Edge cases of Socket.IO at /socket.io/ with the official socket.io-client,
// for tests/system/socketio.rs. Usage:
//
//   node edges.mjs <server-url> <origin|expiry|sigterm> <polling|websocket>
//
// with CLAVOX_TOKEN (an access token) in the environment, and CLAVOX_CHAT
// (a chat of the token's user) for `sigterm`.
//
//   origin   a connection that says it comes from a foreign browser Origin
//            is refused (`connect_error` "forbidden") and one from the
//            server's own origin is let in.
//   expiry   a socket authenticated with a short-lived token is told
//            `unauthorized` and disconnected by the server once the token
//            expires.
//   sigterm  sends 30 messages without waiting, says {"step":"sent"} (the
//            test then stops the server with SIGTERM), and reports which
//            were acknowledged and how the session ended.
//   slow     stops reading from its websocket (the TCP socket is paused),
//            says {"step":"paused"} and waits for a line on stdin (the test
//            floods the chat meanwhile until the server drops it), then
//            reads again: reports the seqs it got before the disconnect and
//            its reason, reconnects as the README tells clients to, and
//            checks the new session answers.
//
// Writes one JSON line {"result": {...}} to stdout; on any failure it writes
// the reason to stderr and exits with status 1.

import { io } from "socket.io-client";

const WAIT_MS = 15_000;

const [url, scenario, transport] = process.argv.slice(2);
const token = process.env.CLAVOX_TOKEN;
if (!url || !["origin", "expiry", "sigterm", "slow"].includes(scenario) || !["polling", "websocket"].includes(transport) || !token) {
  fail("usage: CLAVOX_TOKEN=... node edges.mjs <server-url> <origin|expiry|sigterm|slow> <polling|websocket>");
}

function fail(message) {
  process.stderr.write(`socket.io edge check failed: ${message}\n`);
  process.exit(1);
}

function check(condition, message, detail) {
  if (!condition) fail(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
}

// Connects, resolving with the socket or rejecting with the connect error.
function connect(options) {
  const socket = io(url, { reconnection: false, forceNew: true, transports: [transport], ...options });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer to the connection within the wait")), WAIT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("connect_error", (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
  });
}

async function origin() {
  const foreign = await connect({ auth: { token }, extraHeaders: { origin: "http://evil.example" } }).then(
    (socket) => {
      socket.disconnect();
      return null;
    },
    (error) => error,
  );
  check(foreign !== null, "a foreign Origin is refused");
  const own = new URL(url).origin;
  const socket = await connect({ auth: { token }, extraHeaders: { origin: own } });
  const pong = await socket.timeout(WAIT_MS).emitWithAck("ping", {});
  check(JSON.stringify(pong) === "{}", "the server's own origin is let in", pong);
  socket.disconnect();
  // A refused polling handshake answers 403 without the Engine.IO framing,
  // which the client reports as an "xhr poll error"; over websocket the
  // upgrade is refused. Either way no session opens.
  return { foreignRefused: foreign.message, ownOrigin: "connected" };
}

async function expiry() {
  const socket = await connect({ auth: { token } });
  const told = new Promise((resolve) => socket.on("error", (error) => resolve(error)));
  const gone = new Promise((resolve) => socket.once("disconnect", (reason) => resolve(reason)));
  const timer = setTimeout(() => fail("the server did not end a socket whose token expired"), WAIT_MS);
  const error = await told;
  check(error?.code === "unauthorized", "the socket is told unauthorized", error);
  const reason = await gone;
  clearTimeout(timer);
  return { error: error.code, reason };
}

async function sigterm() {
  const chatId = process.env.CLAVOX_CHAT;
  check(Boolean(chatId), "CLAVOX_CHAT must be set");
  const socket = await connect({ auth: { token } });
  const gone = new Promise((resolve) => socket.once("disconnect", (reason) => resolve(reason)));
  const answers = Array.from({ length: 30 }, (_, n) =>
    socket.timeout(WAIT_MS).emitWithAck("send_message", { chatId, content: `sio ${n}` }).then(
      (message) => (Number.isInteger(message?.seq) ? { content: message.content, seq: message.seq } : { error: message }),
      (error) => ({ error: String(error) }),
    ),
  );
  process.stdout.write(`${JSON.stringify({ step: "sent" })}\n`);
  const settled = await Promise.all(answers);
  const reason = await gone;
  return {
    acknowledged: settled.filter((answer) => answer.seq !== undefined),
    unanswered: settled.filter((answer) => answer.seq === undefined).length,
    reason,
  };
}

// The next line on stdin.
function nextInputLine() {
  return new Promise((resolve) => {
    process.stdin.setEncoding("utf8");
    let buffered = "";
    const onData = (chunk) => {
      buffered += chunk;
      if (buffered.includes("\n")) {
        process.stdin.off("data", onData);
        process.stdin.destroy();
        resolve(buffered.trim());
      }
    };
    process.stdin.on("data", onData);
  });
}

async function slow() {
  check(transport === "websocket", "the slow scenario pauses a websocket");
  const socket = await connect({ auth: { token } });
  const seqs = [];
  socket.on("new_message", (message) => seqs.push(message.seq));
  const gone = new Promise((resolve) => socket.once("disconnect", (reason) => resolve(reason)));
  // The TCP socket under the engine's websocket: paused, nothing is read
  // and the server's writes back up.
  const tcp = socket.io.engine.transport.ws._socket;
  check(Boolean(tcp?.pause), "the websocket's TCP socket is reachable");
  tcp.pause();
  process.stdout.write(`${JSON.stringify({ step: "paused" })}\n`);
  await nextInputLine();
  tcp.resume();
  const timer = setTimeout(() => fail("the server did not disconnect the slow client"), WAIT_MS * 4);
  const reason = await gone;
  clearTimeout(timer);
  // The server ended the session: the client reconnects by itself only
  // after a transport loss, so it calls connect() (README, "Socket.IO").
  const back = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  socket.connect();
  await back;
  const pong = await socket.timeout(WAIT_MS).emitWithAck("ping", {});
  socket.disconnect();
  return { seqs, reason, reconnected: JSON.stringify(pong) === "{}" };
}

const run = { origin, expiry, sigterm, slow }[scenario];
run().then(
  (result) => process.stdout.write(`${JSON.stringify({ result })}\n`),
  (error) => fail(error?.stack ?? String(error)),
);
