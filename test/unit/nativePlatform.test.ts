// The pieces of the trainer's build that differ per platform, checked on any machine: which
// node-llama-cpp package each platform links, the library names found in it (listings as the
// packages ship them), and the Windows import definitions read from a DLL's export table.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dllExports, writeDefFile } from '../../scripts/dll-exports.js';
import { repoRoot } from '../../scripts/llama-source.js';
import { prebuiltBinsDir, prebuiltLibraries, prebuiltPackageId } from '../../scripts/native-platform.js';

const temp = mkdtempSync(join(tmpdir(), 'paramkb-native-platform-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** A bins folder holding empty files with these names. */
function binsWith(name: string, files: string[]): string {
  const dir = join(temp, name);
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f), '');
  return dir;
}

describe('node-llama-cpp packages per platform', () => {
  it('maps each platform to its CPU (or Metal) package, and others to none', () => {
    expect(prebuiltPackageId('linux', 'x64')).toBe('linux-x64');
    expect(prebuiltPackageId('linux', 'arm64')).toBe('linux-arm64');
    expect(prebuiltPackageId('darwin', 'arm64')).toBe('mac-arm64-metal');
    expect(prebuiltPackageId('darwin', 'x64')).toBe('mac-x64');
    expect(prebuiltPackageId('win32', 'x64')).toBe('win-x64');
    expect(prebuiltPackageId('win32', 'arm64')).toBe('win-arm64');
    expect(prebuiltPackageId('win32', 'ia32')).toBeNull();
    expect(prebuiltPackageId('freebsd', 'x64')).toBeNull();
    expect(prebuiltPackageId('linux', 'constructor')).toBeNull();
    expect(prebuiltBinsDir('/app/node_modules', 'win-x64')).toBe(join('/app/node_modules', '@node-llama-cpp', 'win-x64', 'bins', 'win-x64'));
  });

  // The file lists of @node-llama-cpp/win-x64, mac-arm64-metal and mac-x64 3.21.1 (the newest
  // published for those platforms when this was written), less the CPU variants not needed here.
  it('finds the three libraries by pattern in the Windows and macOS packages', () => {
    const win = binsWith('win-x64', ['_nlcBuildMetadata.json', 'ggml-base.dll', 'ggml-cpu-haswell.dll', 'ggml-cpu-x64.dll', 'ggml.v0.4.0.dll',
      'llama-addon.lib', 'llama-addon.node', 'llama-common.dll', 'llama.v0.4.0.dll']);
    expect(prebuiltLibraries(win, 'win32')).toEqual({ ggmlBase: 'ggml-base.dll', ggml: 'ggml.v0.4.0.dll', llama: 'llama.v0.4.0.dll', cpuBackends: ['ggml-cpu-haswell.dll', 'ggml-cpu-x64.dll'] });
    const metal = binsWith('mac-arm64-metal', ['_nlcBuildMetadata.json', 'libggml-base.dylib', 'libggml-blas.so', 'libggml-cpu-apple_m1.so', 'libggml-metal.so',
      'libggml.metal.v0.4.0.dylib', 'libllama-common.dylib', 'libllama.metal.v0.4.0.dylib', 'llama-addon.node']);
    expect(prebuiltLibraries(metal, 'darwin')).toEqual({ ggmlBase: 'libggml-base.dylib', ggml: 'libggml.metal.v0.4.0.dylib', llama: 'libllama.metal.v0.4.0.dylib', cpuBackends: ['libggml-cpu-apple_m1.so'] });
    const intelMac = binsWith('mac-x64', ['libggml-base.dylib', 'libggml-blas.so', 'libggml-cpu-haswell.so', 'libggml.v0.4.0.dylib', 'libllama-common.dylib', 'libllama.v0.4.0.dylib']);
    expect(prebuiltLibraries(intelMac, 'darwin')).toMatchObject({ ggml: 'libggml.v0.4.0.dylib', llama: 'libllama.v0.4.0.dylib' });
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')('finds the libraries of the installed linux-x64 package', () => {
    const libraries = prebuiltLibraries(prebuiltBinsDir(join(repoRoot, 'node_modules'), 'linux-x64'));
    expect(libraries.ggmlBase).toBe('libggml-base.so');
    expect(libraries.ggml).toMatch(/^libggml\.v[\d.]+\.so$/);
    expect(libraries.llama).toMatch(/^libllama\.v[\d.]+\.so$/);
    expect(libraries.cpuBackends).toContain('libggml-cpu-x64.so');
  });

  it('says what is missing', () => {
    expect(() => prebuiltLibraries(join(temp, 'nowhere'), 'win32')).toThrow(/does not exist: node-llama-cpp's prebuilt binaries for this platform are not installed/);
    expect(() => prebuiltLibraries(binsWith('no-llama', ['ggml-base.dll', 'ggml.v1.dll', 'ggml-cpu-x64.dll']), 'win32')).toThrow(/matching .*llama.* found none/);
    expect(() => prebuiltLibraries(binsWith('two-ggml', ['ggml-base.dll', 'ggml.v1.dll', 'ggml.v2.dll', 'llama.dll', 'ggml-cpu-x64.dll']), 'win32')).toThrow(/found ggml\.v1\.dll, ggml\.v2\.dll/);
    expect(() => prebuiltLibraries(binsWith('no-cpu', ['ggml-base.dll', 'ggml.dll', 'llama.dll']), 'win32')).toThrow(/no ggml CPU backend/);
    expect(() => prebuiltLibraries(temp, 'aix')).toThrow(/no build for aix/);
  });
});

/**
 * A minimal PE32+ DLL: .text (code) and .rdata (data, holding the export directory) with three
 * exports: a function, a variable and a forwarder ("other.dll" code).
 */
function makeDll(): Buffer {
  const buf = Buffer.alloc(0x800);
  buf.write('MZ', 0, 'latin1');
  buf.writeUInt32LE(0x40, 0x3c);
  const pe = 0x40;
  buf.write('PE\0\0', pe, 'latin1');
  buf.writeUInt16LE(0x8664, pe + 4); // x64
  buf.writeUInt16LE(2, pe + 6); // sections
  buf.writeUInt16LE(240, pe + 20); // optional header size (PE32+ with 16 directories)
  const opt = pe + 24;
  buf.writeUInt16LE(0x20b, opt);
  buf.writeUInt32LE(16, opt + 108);
  const section = (at: number, name: string, rva: number, raw: number, flags: number) => {
    buf.write(name, at, 'latin1');
    buf.writeUInt32LE(0x200, at + 8);
    buf.writeUInt32LE(rva, at + 12);
    buf.writeUInt32LE(0x200, at + 16);
    buf.writeUInt32LE(raw, at + 20);
    buf.writeUInt32LE(flags >>> 0, at + 36);
  };
  section(opt + 240, '.text', 0x1000, 0x400, 0x60000020); // code, execute, read
  section(opt + 280, '.rdata', 0x2000, 0x600, 0x40000040); // initialized data, read
  const rdata = (rva: number) => rva - 0x2000 + 0x600;
  const strings: [number, string][] = [[0x2080, 'tiny.dll'], [0x2090, 'alpha_function'], [0x20a0, 'beta_variable'], [0x20b0, 'gamma_forwarded'], [0x20c0, 'other.dll.x']];
  for (const [rva, s] of strings) buf.write(`${s}\0`, rdata(rva), 'latin1');
  const dir = rdata(0x2000);
  buf.writeUInt32LE(0x2080, dir + 12); // name
  buf.writeUInt32LE(1, dir + 16); // ordinal base
  buf.writeUInt32LE(3, dir + 20); // functions
  buf.writeUInt32LE(3, dir + 24); // names
  buf.writeUInt32LE(0x2030, dir + 28);
  buf.writeUInt32LE(0x2040, dir + 32);
  buf.writeUInt32LE(0x2050, dir + 36);
  [0x1000, 0x2100, 0x20c0].forEach((target, i) => buf.writeUInt32LE(target, rdata(0x2030) + 4 * i));
  [0x2090, 0x20a0, 0x20b0].forEach((name, i) => buf.writeUInt32LE(name, rdata(0x2040) + 4 * i));
  [0, 1, 2].forEach((ordinal, i) => buf.writeUInt16LE(ordinal, rdata(0x2050) + 2 * i));
  buf.writeUInt32LE(0x2000, opt + 112); // export directory
  buf.writeUInt32LE(0xd0, opt + 116);
  return buf;
}

describe('Windows import definitions from a DLL', () => {
  it('reads names, machine, and which exports are data', () => {
    const path = join(temp, 'tiny.dll');
    writeFileSync(path, makeDll());
    expect(dllExports(path)).toEqual({
      machine: 'x64', name: 'tiny.dll',
      exports: [{ name: 'alpha_function', data: false }, { name: 'beta_variable', data: true }, { name: 'gamma_forwarded', data: false }],
    });
    const def = join(temp, 'tiny.def');
    expect(writeDefFile(path, def)).toBe('x64');
    expect(readFileSync(def, 'utf8')).toBe('LIBRARY "tiny.dll"\nEXPORTS\n    alpha_function\n    beta_variable DATA\n    gamma_forwarded\n');
  });

  // Real DLLs that npm installs with electron-builder (7-Zip's, for x64 and arm64).
  const sevenZip = join(repoRoot, 'node_modules', 'electron-winstaller', 'vendor');
  it.runIf(existsSync(join(sevenZip, '7z-x64.dll')))('reads the exports of real DLLs', () => {
    const names = ['CreateDecoder', 'CreateEncoder', 'CreateObject', 'GetHandlerProperty', 'GetHandlerProperty2', 'GetHashers', 'GetIsArc',
      'GetMethodProperty', 'GetNumberOfFormats', 'GetNumberOfMethods', 'SetCaseSensitive', 'SetCodecs', 'SetLargePageMode'];
    for (const [file, machine] of [['7z-x64.dll', 'x64'], ['7z-arm64.dll', 'arm64']] as const) {
      const read = dllExports(join(sevenZip, file));
      expect(read.machine).toBe(machine);
      expect(read.exports).toEqual(names.map((name) => ({ name, data: false })));
    }
  });

  it('refuses files that are not DLLs', () => {
    expect(() => dllExports(join(repoRoot, 'package.json'))).toThrow(/is not a Windows DLL \(no MZ header\)/);
    const truncated = join(temp, 'truncated.dll');
    writeFileSync(truncated, makeDll().subarray(0, 0x50));
    expect(() => dllExports(truncated)).toThrow(/is not a Windows DLL/);
  });
});
