// Module-definition (.def) files for Windows DLLs, read from the DLL's own export table.
// node-llama-cpp's Windows packages ship ggml-base.dll, ggml.*.dll and llama.*.dll without the
// import libraries (.lib) a linker needs; a .def file lists a DLL's exports, and `lib.exe /def:`
// (MSVC) or `dlltool -d` (MinGW) turns it into an import library. Reading the export table here
// needs neither dumpbin nor gendef, so it works on any machine (and is tested on Linux).
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

const MACHINES = { 0x8664: 'x64', 0xaa64: 'arm64', 0x14c: 'x86' };
const IMAGE_SCN_MEM_EXECUTE = 0x20000000;

/**
 * The named exports of a PE file (DLL), sorted, each marked `data` when it does not point into
 * executable code, and the machine it is built for. Throws on anything that is not a PE image.
 */
export function dllExports(path) {
  const buf = readFileSync(path);
  const fail = (what) => { throw new Error(`${path} is not a Windows DLL (${what}).`); };
  if (buf.length < 0x40 || buf.toString('latin1', 0, 2) !== 'MZ') fail('no MZ header');
  const pe = buf.readUInt32LE(0x3c);
  if (pe + 24 > buf.length || buf.toString('latin1', pe, pe + 4) !== 'PE\0\0') fail('no PE signature');
  const machine = MACHINES[buf.readUInt16LE(pe + 4)] ?? fail(`unknown machine 0x${buf.readUInt16LE(pe + 4).toString(16)}`);
  const sectionCount = buf.readUInt16LE(pe + 6);
  const optional = pe + 24;
  const optionalSize = buf.readUInt16LE(pe + 20);
  const magic = buf.readUInt16LE(optional);
  const directories = magic === 0x20b ? optional + 112 : magic === 0x10b ? optional + 96 : fail(`optional header magic 0x${magic.toString(16)}`);
  const exportRva = buf.readUInt32LE(directories);
  const exportSize = buf.readUInt32LE(directories + 4);
  const sections = [];
  for (let i = 0; i < sectionCount; i++) {
    const s = optional + optionalSize + i * 40;
    sections.push({
      rva: buf.readUInt32LE(s + 12),
      size: Math.max(buf.readUInt32LE(s + 8), buf.readUInt32LE(s + 16)),
      raw: buf.readUInt32LE(s + 20),
      executable: (buf.readUInt32LE(s + 36) & IMAGE_SCN_MEM_EXECUTE) !== 0,
    });
  }
  const sectionOf = (rva) => sections.find((s) => rva >= s.rva && rva < s.rva + s.size);
  const offset = (rva) => {
    const s = sectionOf(rva) ?? fail(`RVA 0x${rva.toString(16)} is outside every section`);
    return rva - s.rva + s.raw;
  };
  const cString = (rva) => {
    const start = offset(rva);
    return buf.toString('latin1', start, buf.indexOf(0, start));
  };
  if (exportRva === 0) return { machine, name: basename(path), exports: [] };
  const dir = offset(exportRva);
  const nameCount = buf.readUInt32LE(dir + 24);
  const functions = offset(buf.readUInt32LE(dir + 28));
  const names = offset(buf.readUInt32LE(dir + 32));
  const ordinals = offset(buf.readUInt32LE(dir + 36));
  const exports = [];
  for (let i = 0; i < nameCount; i++) {
    const target = buf.readUInt32LE(functions + 4 * buf.readUInt16LE(ordinals + 2 * i));
    // A target inside the export directory is a forwarder string ("other.dll.name"): code elsewhere.
    const forwarded = target >= exportRva && target < exportRva + exportSize;
    exports.push({ name: cString(buf.readUInt32LE(names + 4 * i)), data: !forwarded && !sectionOf(target)?.executable });
  }
  exports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { machine, name: cString(buf.readUInt32LE(dir + 12)), exports };
}

/** Writes the .def file of a DLL (its exports, DATA for variables); returns the machine ('x64', 'arm64'). */
export function writeDefFile(dllPath, defPath) {
  const { machine, exports } = dllExports(dllPath);
  if (exports.length === 0) throw new Error(`${dllPath} exports nothing.`);
  const lines = [`LIBRARY "${basename(dllPath)}"`, 'EXPORTS', ...exports.map((e) => `    ${e.name}${e.data ? ' DATA' : ''}`)];
  writeFileSync(defPath, `${lines.join('\n')}\n`);
  return machine;
}
