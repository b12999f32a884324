// Draws resources/icon.png (512x512 RGBA), the app icon electron-builder converts for every
// platform: an indigo rounded square with the ParamKB mark, a white hexagon (the model) holding
// an open book (the knowledge). Plain Node, no image library: shapes are distance fields,
// anti-aliased by coverage. Run: node resources/generate-icon.mjs
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const SIZE = 512;
const hexagon = [[256, 92], [398, 174], [398, 338], [256, 420], [114, 338], [114, 174]];
const strokes = [
  ...hexagon.map((p, i) => ({ a: p, b: hexagon[(i + 1) % 6], width: 26 })),
  // The open book: a spine and two pages, each a top edge, an outer edge and a bottom edge.
  { a: [256, 232], b: [256, 336], width: 18 },
  ...[-1, 1].flatMap((side) => [
    { a: [256, 232], b: [256 + side * 82, 210], width: 18 },
    { a: [256 + side * 82, 210], b: [256 + side * 82, 314], width: 18 },
    { a: [256 + side * 82, 314], b: [256, 336], width: 18 },
  ]),
];

function segmentDistance(x, y, [ax, ay], [bx, by]) {
  const dx = bx - ax, dy = by - ay;
  const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(x - ax - t * dx, y - ay - t * dy);
}

function roundedSquareDistance(x, y) {
  const half = 240, radius = 112;
  const qx = Math.abs(x - 256) - (half - radius), qy = Math.abs(y - 256) - (half - radius);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
}

const clamp01 = (v) => Math.max(0, Math.min(1, v));
const from = [0x63, 0x66, 0xf1], to = [0x37, 0x30, 0xa3];
const rows = [];
for (let y = 0; y < SIZE; y++) {
  const row = Buffer.alloc(1 + SIZE * 4); // filter byte 0, then RGBA
  for (let x = 0; x < SIZE; x++) {
    const px = x + 0.5, py = y + 0.5;
    const t = (px + py) / (2 * SIZE);
    const ink = strokes.reduce((c, s) => Math.max(c, clamp01(s.width / 2 + 0.5 - segmentDistance(px, py, s.a, s.b))), 0);
    const rgb = from.map((f, i) => Math.round((f + (to[i] - f) * t) * (1 - ink) + 255 * ink));
    const alpha = clamp01(0.5 - roundedSquareDistance(px, py));
    row.set([...rgb, Math.round(alpha * 255)], 1 + x * 4);
  }
  rows.push(row);
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}
const header = Buffer.alloc(13);
header.writeUInt32BE(SIZE, 0);
header.writeUInt32BE(SIZE, 4);
header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', header),
  chunk('IDAT', deflateSync(Buffer.concat(rows), { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
writeFileSync(new URL('./icon.png', import.meta.url), png);
