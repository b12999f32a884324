// Reads and rewrites knowledge pack archives in tests, to make damaged, newer or inconsistent
// packs: the entries are read whole (test packs are small) and written back with tar-stream.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface PackEntry { name: string; bytes: Buffer }

export async function readPackEntries(path: string): Promise<PackEntry[]> {
  const extract = tar.extract();
  Readable.from([readFileSync(path)]).pipe(extract);
  const out: PackEntry[] = [];
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const part of entry) parts.push(part as Buffer);
    out.push({ name: entry.header.name, bytes: Buffer.concat(parts) });
  }
  return out;
}

/** Writes entries as a pack; with `reseal`, manifest.json is rebuilt so every checksum matches. */
export async function writePackEntries(path: string, entries: PackEntry[], options: { reseal?: boolean } = {}): Promise<void> {
  let list = entries;
  if (options.reseal) {
    const manifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')!.bytes.toString('utf8')) as { entries: unknown[] };
    manifest.entries = entries.filter((e) => e.name !== 'manifest.json')
      .map((e) => ({ name: e.name, size: e.bytes.length, sha256: createHash('sha256').update(e.bytes).digest('hex') }));
    list = entries.map((e) => (e.name === 'manifest.json' ? { name: e.name, bytes: Buffer.from(JSON.stringify(manifest)) } : e));
  }
  const pack = tar.pack();
  for (const e of list) pack.entry({ name: e.name, size: e.bytes.length }, e.bytes);
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const part of pack) parts.push(part as Buffer);
  writeFileSync(path, Buffer.concat(parts));
}
