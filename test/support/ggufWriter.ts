// A minimal GGUF v3 writer for test fixtures and benchmark models (random weights of real
// shapes). Hand-written because no npm package writes GGUF; it only covers what fixtures need:
// scalar/string/array metadata, raw metadata copied from another GGUF (the tokenizer of
// llama.cpp's vocab files), and F32/F16 tensors streamed in chunks so a 1B-shape model never
// has to fit in memory.
import { closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

export const GGML_TYPE = { F32: 0, F16: 1 } as const;
const GGUF_TYPE = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;
const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const ALIGNMENT = 32;

export type MetadataValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'raw'; bytes: Buffer }; // type tag + value, copied verbatim from another file

export interface TensorSpec {
  name: string;
  /** ggml ne order: ne[0] is the contiguous (input) dimension. */
  shape: number[];
  type: 'f32' | 'f16';
  /** Fills `out` with the elements starting at flat index `offset`. */
  fill: (out: Float32Array, offset: number) => void;
}

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void { this.chunks.push(b); this.length += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  u64(v: number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  toBuffer(): Buffer { return Buffer.concat(this.chunks); }
}

/** Reads the metadata of a GGUF file as raw key → bytes (type tag + value), keeping exact types. */
export function readRawMetadata(path: string): Map<string, Buffer> {
  const buf = readFileSync(path);
  if (buf.readUInt32LE(0) !== 0x46554747) throw new Error(`${path} is not a GGUF file`);
  let pos = 8;
  const nTensors = Number(buf.readBigUInt64LE(pos)); pos += 8;
  const nKv = Number(buf.readBigUInt64LE(pos)); pos += 8;
  void nTensors;
  const skipString = () => { const n = Number(buf.readBigUInt64LE(pos)); pos += 8 + n; };
  const skipValue = (type: number) => {
    if (type === GGUF_TYPE.STRING) skipString();
    else if (type === GGUF_TYPE.ARRAY) {
      const elemType = buf.readUInt32LE(pos); pos += 4;
      const n = Number(buf.readBigUInt64LE(pos)); pos += 8;
      if (elemType === GGUF_TYPE.STRING) for (let i = 0; i < n; i++) skipString();
      else pos += n * SCALAR_SIZE[elemType]!;
    } else pos += SCALAR_SIZE[type]!;
  };
  const out = new Map<string, Buffer>();
  for (let i = 0; i < nKv; i++) {
    const keyLen = Number(buf.readBigUInt64LE(pos)); pos += 8;
    const key = buf.toString('utf8', pos, pos + keyLen); pos += keyLen;
    const start = pos;
    const type = buf.readUInt32LE(pos); pos += 4;
    skipValue(type);
    out.set(key, Buffer.from(buf.subarray(start, pos)));
  }
  return out;
}

function encodeValue(sink: ByteSink, v: MetadataValue): void {
  switch (v.type) {
    case 'u32': sink.u32(GGUF_TYPE.UINT32); sink.u32(v.value); break;
    case 'i32': { sink.u32(GGUF_TYPE.INT32); const b = Buffer.alloc(4); b.writeInt32LE(v.value); sink.push(b); break; }
    case 'f32': { sink.u32(GGUF_TYPE.FLOAT32); const b = Buffer.alloc(4); b.writeFloatLE(v.value); sink.push(b); break; }
    case 'bool': sink.u32(GGUF_TYPE.BOOL); sink.push(Buffer.from([v.value ? 1 : 0])); break;
    case 'string': sink.u32(GGUF_TYPE.STRING); sink.str(v.value); break;
    case 'raw': sink.push(v.bytes); break;
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);
/** IEEE half from float, round to nearest even (what ggml_fp32_to_fp16 does). */
export function float32ToFloat16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

const CHUNK = 1 << 20;

/** Writes a GGUF file (to a temp name, then renamed, so a crash never leaves a half file). */
export function writeGguf(path: string, metadata: Map<string, MetadataValue>, tensors: TensorSpec[]): void {
  const header = new ByteSink();
  header.u32(0x46554747);
  header.u32(3);
  header.u64(tensors.length);
  header.u64(metadata.size);
  for (const [key, value] of metadata) { header.str(key); encodeValue(header, value); }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    header.str(t.name);
    header.u32(t.shape.length);
    for (const d of t.shape) header.u64(d);
    header.u32(t.type === 'f32' ? GGML_TYPE.F32 : GGML_TYPE.F16);
    header.u64(offset);
    offsets.push(offset);
    const bytes = t.shape.reduce((a, b) => a * b, 1) * (t.type === 'f32' ? 4 : 2);
    offset += Math.ceil(bytes / ALIGNMENT) * ALIGNMENT;
  }
  const pad = (n: number) => Buffer.alloc((ALIGNMENT - (n % ALIGNMENT)) % ALIGNMENT);
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w');
  try {
    const head = header.toBuffer();
    writeSync(fd, head);
    writeSync(fd, pad(head.length));
    const values = new Float32Array(CHUNK);
    for (const t of tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      let written = 0;
      for (let start = 0; start < n; start += CHUNK) {
        const count = Math.min(CHUNK, n - start);
        const view = values.subarray(0, count);
        t.fill(view, start);
        let out: Buffer;
        if (t.type === 'f32') out = Buffer.from(view.buffer, view.byteOffset, count * 4);
        else {
          const half = new Uint16Array(count);
          for (let i = 0; i < count; i++) half[i] = float32ToFloat16(view[i]!);
          out = Buffer.from(half.buffer);
        }
        writeSync(fd, out);
        written += out.length;
      }
      writeSync(fd, pad(written));
    }
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}
