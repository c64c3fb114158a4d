// Voice recording with MediaRecorder. The microphone is open only while recording and is released
// as soon as the recording stops or is thrown away. Opus in WebM where the browser can, else what
// it offers (Ogg in Firefox, MP4/AAC in Safari).
const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/ogg', 'audio/mp4;codecs=mp4a.40.2', 'audio/mp4', 'audio/aac'];
const BITS_PER_SECOND = 32_000; // clear speech, about 4 KB a second
const CHUNK_MS = 1_000;

export const canRecord = () => Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);

// Browsers keep the microphone from pages that are not secure contexts (plain http:// on a LAN
// address); there the button stays, to say where recording does work.
export const needsSecureAddress = () => !navigator.mediaDevices && window.isSecureContext === false;

function pickType() {
  if (typeof MediaRecorder.isTypeSupported !== 'function') return '';
  return TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || '';
}

// The file extension for a recording's media type (its parameters ignored).
export function extensionFor(type) {
  const essence = String(type).split(';')[0].trim();
  if (essence === 'audio/ogg') return 'ogg';
  if (essence === 'audio/mp4' || essence === 'audio/aac') return 'm4a';
  return 'webm';
}

function release(stream) {
  for (const track of stream.getTracks()) track.stop();
}

// Opens the microphone and starts recording. Rejects with getUserMedia's DOMException:
// NotAllowedError (permission refused), NotFoundError (no microphone), NotReadableError (in use).
// The recording: elapsed() in ms; stop() resolves to { blob, durationMs }; cancel() throws it away;
// `ended` settles once the recorder has stopped for any reason (e.g. the microphone was unplugged).
export async function record() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const mimeType = pickType();
  const chunks = [];
  let recorder;
  let endedAt = 0;
  let ended;
  try {
    recorder = new MediaRecorder(stream, mimeType ? { mimeType, audioBitsPerSecond: BITS_PER_SECOND } : undefined);
    recorder.addEventListener('dataavailable', (event) => {
      if (event.data.size) chunks.push(event.data);
    });
    ended = new Promise((resolve) => {
      recorder.addEventListener('stop', () => {
        endedAt ||= performance.now();
        release(stream);
        resolve();
      }, { once: true });
    });
    recorder.start(CHUNK_MS);
  } catch (err) {
    release(stream);
    throw err;
  }
  const startedAt = performance.now();

  function finish() {
    endedAt ||= performance.now();
    if (recorder.state !== 'inactive') recorder.stop();
    return ended;
  }

  return {
    ended,
    elapsed: () => (endedAt || performance.now()) - startedAt,
    async stop() {
      await finish();
      const type = recorder.mimeType || mimeType || chunks[0]?.type || 'audio/webm';
      return { blob: new Blob(chunks, { type }), durationMs: Math.round(endedAt - startedAt) };
    },
    cancel() {
      finish().then(() => {
        chunks.length = 0;
      });
    },
  };
}
