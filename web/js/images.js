// Photos made ready for sending, in the browser: at most 2048 px on the longest side, re-encoded as
// JPEG (quality 0.85), which also drops what the camera wrote into the file (the place it was
// taken). Transparent images stay PNG while that stays small; GIFs go as they are, so animations
// survive. Each comes with its size and a tiny blurred stand-in for the bubble while it loads.
const MAX_SIDE = 2048;
const JPEG_QUALITY = 0.85;
const SMALL_PNG_BYTES = 1024 * 1024;
const STAND_IN_SIDE = 16;
// The stand-in travels in the message's metadata (at most 4096 bytes in all).
const STAND_IN_MAX_CHARS = 1400;

export const isImage = (file) => /^image\//.test(file.type);

function canvasOf(width, height) {
  if (typeof OffscreenCanvas === 'function') return new OffscreenCanvas(width, height);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function encode(canvas, type, quality) {
  if (canvas.convertToBlob) return canvas.convertToBlob({ type, quality });
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('encode'))), type, quality);
  });
}

function scaled(width, height, max) {
  const factor = Math.min(1, max / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * factor)), height: Math.max(1, Math.round(height * factor)) };
}

function hasTransparency(context, width, height) {
  const { data } = context.getImageData(0, 0, width, height);
  for (let i = 3; i < data.length; i += 4) if (data[i] < 255) return true;
  return false;
}

function renamed(name, extension) {
  const base = (name || 'photo').replace(/\.[^./]{1,5}$/, '');
  return `${base}.${extension}`;
}

async function standIn(bitmap) {
  const { width, height } = scaled(bitmap.width, bitmap.height, STAND_IN_SIDE);
  const canvas = canvasOf(width, height);
  const context = canvas.getContext('2d');
  context.drawImage(bitmap, 0, 0, width, height);
  const blob = await encode(canvas, 'image/jpeg', 0.6);
  const url = await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => resolve('');
    reader.readAsDataURL(blob);
  });
  return url.length <= STAND_IN_MAX_CHARS ? url : null;
}

// `file` → { blob, name, width, height, preview } ready to upload; rejects when the browser
// cannot read it as an image.
export async function prepare(file) {
  const bitmap = await createImageBitmap(file);
  try {
    const preview = await standIn(bitmap).catch(() => null);
    if (file.type === 'image/gif') return { blob: file, name: file.name, width: bitmap.width, height: bitmap.height, preview };
    const { width, height } = scaled(bitmap.width, bitmap.height, MAX_SIDE);
    const canvas = canvasOf(width, height);
    const context = canvas.getContext('2d');
    context.imageSmoothingQuality = 'high';
    context.drawImage(bitmap, 0, 0, width, height);
    if (file.type !== 'image/jpeg' && hasTransparency(context, width, height)) {
      const png = await encode(canvas, 'image/png');
      if (png.size <= SMALL_PNG_BYTES) return { blob: png, name: renamed(file.name, 'png'), width, height, preview };
    }
    // JPEG has no transparency: what was see-through shows on white, not black.
    const flat = canvasOf(width, height);
    const flatContext = flat.getContext('2d');
    flatContext.fillStyle = '#fff';
    flatContext.fillRect(0, 0, width, height);
    flatContext.drawImage(canvas, 0, 0);
    const jpeg = await encode(flat, 'image/jpeg', JPEG_QUALITY);
    return { blob: jpeg, name: renamed(file.name, 'jpg'), width, height, preview };
  } finally {
    bitmap.close();
  }
}

// The blurred stand-in a message carries for its photo, if it is one this app made (a small
// base64 JPEG); anything else is ignored.
export function placeholderOf(metadata) {
  const value = metadata?.placeholder;
  if (typeof value !== 'string' || value.length > STAND_IN_MAX_CHARS) return null;
  return /^data:image\/jpeg;base64,[A-Za-z0-9+/]+={0,2}$/.test(value) ? value : null;
}
