// QR codes for links the app shows (group invite links), made here so they work on a LAN without
// the internet. Byte mode, error correction level M, versions 1 to 10 (up to 213 bytes), which is
// plenty for an address. `encode` gives the modules; `qrSvg` draws them. The layout follows
// ISO/IEC 18004: finder, timing and alignment patterns, format and version information, the data
// and Reed–Solomon codewords interleaved by block and laid out in the two-column zigzag, and the
// mask with the lowest penalty (unless one is asked for, as the tests do).

// Level M per version: error correction codewords per block, and the data codewords of each block.
const BLOCKS_M = [
  null,
  { ec: 10, data: [16] },
  { ec: 16, data: [28] },
  { ec: 26, data: [44] },
  { ec: 18, data: [32, 32] },
  { ec: 24, data: [43, 43] },
  { ec: 16, data: [27, 27, 27, 27] },
  { ec: 18, data: [31, 31, 31, 31] },
  { ec: 22, data: [38, 38, 39, 39] },
  { ec: 22, data: [36, 36, 36, 37, 37] },
  { ec: 26, data: [43, 43, 43, 43, 44] },
];
const ALIGNMENT = [null, [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]];
export const MAX_VERSION = 10;
const EC_BITS_M = 0b00;

// ---- GF(256) with the polynomial x^8 + x^4 + x^3 + x^2 + 1, for Reed–Solomon ----

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i += 1) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i += 1) EXP[i] = EXP[i - 255];
}
const mul = (a, b) => (a && b ? EXP[LOG[a] + LOG[b]] : 0);

// The generator (x - α^0)(x - α^1)…(x - α^(n-1)), highest power first, leading 1 left out.
function generator(n) {
  let poly = [1];
  for (let i = 0; i < n; i += 1) {
    const next = new Array(poly.length + 1).fill(0);
    poly.forEach((coefficient, j) => {
      next[j] ^= coefficient;
      next[j + 1] ^= mul(coefficient, EXP[i]);
    });
    poly = next;
  }
  return poly.slice(1);
}

function remainder(data, gen) {
  const rem = new Array(gen.length).fill(0);
  for (const byte of data) {
    const factor = byte ^ rem.shift();
    rem.push(0);
    gen.forEach((g, i) => {
      rem[i] ^= mul(g, factor);
    });
  }
  return rem;
}

// ---- The bit stream ----

const countBits = (version) => (version < 10 ? 8 : 16);
const dataCapacity = (version) => BLOCKS_M[version].data.reduce((sum, n) => sum + n, 0);

// The smallest version that holds `length` bytes, or 0 if none up to MAX_VERSION does.
export function versionFor(length) {
  for (let version = 1; version <= MAX_VERSION; version += 1) {
    if (4 + countBits(version) + length * 8 <= dataCapacity(version) * 8) return version;
  }
  return 0;
}

function dataCodewords(bytes, version) {
  const capacity = dataCapacity(version);
  const bits = [];
  const push = (value, length) => {
    for (let i = length - 1; i >= 0; i -= 1) bits.push((value >>> i) & 1);
  };
  push(0b0100, 4);
  push(bytes.length, countBits(version));
  for (const byte of bytes) push(byte, 8);
  push(0, Math.min(4, capacity * 8 - bits.length));
  while (bits.length % 8) bits.push(0);
  const words = [];
  for (let i = 0; i < bits.length; i += 8) words.push(bits.slice(i, i + 8).reduce((value, bit) => (value << 1) | bit, 0));
  for (let pad = 0xec; words.length < capacity; pad ^= 0xec ^ 0x11) words.push(pad);
  return words;
}

// Splits into blocks, adds each block's error correction, and interleaves.
function finalCodewords(words, version) {
  const { ec, data } = BLOCKS_M[version];
  const gen = generator(ec);
  const blocks = [];
  let at = 0;
  for (const length of data) {
    const block = words.slice(at, at + length);
    at += length;
    blocks.push({ block, ec: remainder(block, gen) });
  }
  const out = [];
  const longest = Math.max(...data);
  for (let i = 0; i < longest; i += 1) for (const { block } of blocks) if (i < block.length) out.push(block[i]);
  for (let i = 0; i < ec; i += 1) for (const block of blocks) out.push(block.ec[i]);
  return out;
}

// ---- The matrix ----

// BCH remainder of `value` (already shifted) by `poly` of degree `degree`.
function bch(value, poly, degree) {
  let rem = value;
  const top = 31 - Math.clz32(poly);
  while (31 - Math.clz32(rem) >= degree) rem ^= poly << (31 - Math.clz32(rem) - top);
  return rem;
}

const MASKS = [
  (x, y) => (x + y) % 2 === 0,
  (x, y) => y % 2 === 0,
  (x) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
];

class Matrix {
  constructor(version) {
    this.version = version;
    this.size = version * 4 + 17;
    this.dark = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
    this.fixed = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
  }

  set(x, y, dark) {
    this.dark[y][x] = dark;
    this.fixed[y][x] = true;
  }

  drawFunctionPatterns() {
    const { size, version } = this;
    for (let i = 0; i < size; i += 1) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]]) {
      // The finder and its light separator: rings at distance 0–1 dark, 2 light, 3 dark, 4 light.
      for (let dy = -4; dy <= 4; dy += 1) {
        for (let dx = -4; dx <= 4; dx += 1) {
          const x = cx + dx;
          const y = cy + dy;
          if (x < 0 || y < 0 || x >= size || y >= size) continue;
          const ring = Math.max(Math.abs(dx), Math.abs(dy));
          this.set(x, y, ring !== 2 && ring !== 4);
        }
      }
    }
    const centres = ALIGNMENT[version];
    const last = centres.length - 1;
    centres.forEach((cx, i) => centres.forEach((cy, j) => {
      // Not over the three finders.
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return;
      for (let dy = -2; dy <= 2; dy += 1) {
        for (let dx = -2; dx <= 2; dx += 1) this.set(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }));
    this.drawFormat(0); // reserves the modules; drawn again once the mask is chosen
    if (version >= 7) {
      const bits = (version << 12) | bch(version << 12, 0x1f25, 12);
      for (let i = 0; i < 18; i += 1) {
        const dark = ((bits >>> i) & 1) === 1;
        const a = size - 11 + (i % 3);
        const b = Math.floor(i / 3);
        this.set(a, b, dark);
        this.set(b, a, dark);
      }
    }
  }

  drawFormat(mask) {
    const { size } = this;
    const data = (EC_BITS_M << 3) | mask;
    const bits = ((data << 10) | bch(data << 10, 0x537, 10)) ^ 0x5412;
    const bit = (i) => ((bits >>> i) & 1) === 1;
    for (let i = 0; i <= 5; i += 1) this.set(8, i, bit(i));
    this.set(8, 7, bit(6));
    this.set(8, 8, bit(7));
    this.set(7, 8, bit(8));
    for (let i = 9; i < 15; i += 1) this.set(14 - i, 8, bit(i));
    for (let i = 0; i < 8; i += 1) this.set(size - 1 - i, 8, bit(i));
    for (let i = 8; i < 15; i += 1) this.set(8, size - 15 + i, bit(i));
    this.set(8, size - 8, true); // the dark module
  }

  drawCodewords(codewords) {
    const { size } = this;
    let i = 0;
    const total = codewords.length * 8;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5; // the vertical timing pattern's column is skipped
      const upward = ((right + 1) & 2) === 0;
      for (let step = 0; step < size; step += 1) {
        const y = upward ? size - 1 - step : step;
        for (let j = 0; j < 2; j += 1) {
          const x = right - j;
          if (this.fixed[y][x]) continue;
          // Remainder bits past the codewords stay light.
          this.dark[y][x] = i < total && ((codewords[i >>> 3] >>> (7 - (i & 7))) & 1) === 1;
          i += 1;
        }
      }
    }
  }

  applyMask(mask) {
    const test = MASKS[mask];
    for (let y = 0; y < this.size; y += 1) {
      for (let x = 0; x < this.size; x += 1) if (!this.fixed[y][x] && test(x, y)) this.dark[y][x] = !this.dark[y][x];
    }
  }

  // The standard's penalty: runs of five or more, 2×2 blocks, finder-like runs, and imbalance.
  penalty() {
    const { size, dark } = this;
    let score = 0;
    const lines = [];
    for (let i = 0; i < size; i += 1) {
      lines.push(dark[i]);
      lines.push(dark.map((row) => row[i]));
    }
    const finderLike = [true, false, true, true, true, false, true];
    for (const line of lines) {
      let run = 1;
      for (let i = 1; i <= size; i += 1) {
        if (i < size && line[i] === line[i - 1]) {
          run += 1;
          continue;
        }
        if (run >= 5) score += run - 2;
        run = 1;
      }
      const light = (i) => i < 0 || i >= size || !line[i];
      for (let i = 0; i + 7 <= size; i += 1) {
        if (!finderLike.every((want, k) => line[i + k] === want)) continue;
        const before = [1, 2, 3, 4].every((k) => light(i - k));
        const after = [0, 1, 2, 3].every((k) => light(i + 7 + k));
        if (before) score += 40;
        if (after) score += 40;
      }
    }
    let darkCount = 0;
    for (let y = 0; y < size; y += 1) {
      for (let x = 0; x < size; x += 1) {
        if (dark[y][x]) darkCount += 1;
        if (x + 1 < size && y + 1 < size) {
          const c = dark[y][x];
          if (dark[y][x + 1] === c && dark[y + 1][x] === c && dark[y + 1][x + 1] === c) score += 3;
        }
      }
    }
    const total = size * size;
    score += Math.max(0, Math.ceil(Math.abs(darkCount * 20 - total * 10) / total) - 1) * 10;
    return score;
  }
}

export class QrTooLong extends Error {}

// `text` as a QR code: `{ version, mask, size, dark }`, where `dark[y][x]` is a row-major matrix of
// booleans without the quiet zone. `options.mask` (0–7) forces a mask instead of the best one.
export function encode(text, options = {}) {
  const bytes = new TextEncoder().encode(text);
  const version = versionFor(bytes.length);
  if (!version) throw new QrTooLong(`${bytes.length} bytes is more than a version ${MAX_VERSION} code holds`);
  const codewords = finalCodewords(dataCodewords(bytes, version), version);
  const build = (mask) => {
    const matrix = new Matrix(version);
    matrix.drawFunctionPatterns();
    matrix.drawCodewords(codewords);
    matrix.applyMask(mask);
    matrix.drawFormat(mask);
    return matrix;
  };
  let best = null;
  let bestMask = 0;
  const masks = Number.isInteger(options.mask) ? [options.mask] : [0, 1, 2, 3, 4, 5, 6, 7];
  let bestScore = Infinity;
  for (const mask of masks) {
    const matrix = build(mask);
    const score = masks.length > 1 ? matrix.penalty() : 0;
    if (score < bestScore) {
      best = matrix;
      bestMask = mask;
      bestScore = score;
    }
  }
  return { version, mask: bestMask, size: best.size, dark: best.dark };
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const QUIET = 4;

// An <svg> of `text`'s code, dark on white whatever the theme (scanners need the contrast), with
// the standard four-module quiet zone. `label` is what screen readers hear.
export function qrSvg(text, label) {
  const { size, dark } = encode(text);
  const side = size + QUIET * 2;
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${side} ${side}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const background = document.createElementNS(SVG_NS, 'rect');
  background.setAttribute('width', String(side));
  background.setAttribute('height', String(side));
  background.setAttribute('fill', '#fff');
  const path = document.createElementNS(SVG_NS, 'path');
  let d = '';
  dark.forEach((row, y) => row.forEach((on, x) => {
    if (on) d += `M${x + QUIET} ${y + QUIET}h1v1h-1z`;
  }));
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(background, path);
  return svg;
}
