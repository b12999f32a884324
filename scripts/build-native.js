// Builds the native LoRA trainer (native/) with node-gyp: C++ sources compiled against the ggml
// headers of node-llama-cpp's bundled llama.cpp and linked to node-llama-cpp's prebuilt shared
// libraries for this platform, so one ggml version serves training and inference. No network:
// node-gyp uses the local Node headers (npm's nodedir) and everything else is in node_modules.
//
// Where the trainer cannot be built (node-llama-cpp ships no binaries for the platform, no C++
// toolchain), this writes the reason to native/build/trainer-unavailable.txt and exits 1;
// build.js then carries on, and the app runs without parametric encoding and says why.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { writeDefFile } from './dll-exports.js';
import { ensureLlamaSource, repoRoot } from './llama-source.js';
import { prebuiltBinsDir, prebuiltLibraries, prebuiltPackageId } from './native-platform.js';

const require = createRequire(import.meta.url);
const nativeDir = join(repoRoot, 'native');
const releaseDir = join(nativeDir, 'build', 'Release');
const failureFile = join(nativeDir, 'build', 'trainer-unavailable.txt');

/** node-llama-cpp's prebuilt package for this platform, its bins folder and the libraries to link. */
function linkInputs() {
  const platform = `${process.platform}-${process.arch}`;
  const id = prebuiltPackageId();
  if (!id) throw new Error(`node-llama-cpp ships no prebuilt binaries for ${platform}, so there is no ggml to link the trainer against.`);
  const binsDir = prebuiltBinsDir(join(repoRoot, 'node_modules'), id);
  try {
    return { id, binsDir, libraries: prebuiltLibraries(binsDir) };
  } catch (error) {
    throw new Error(`${error.message} The trainer links @node-llama-cpp/${id}, which npm installs with node-llama-cpp on ${platform}.`);
  }
}

function nodeGypPath() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const candidates = [join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  if (process.platform === 'win32') candidates.push(join(process.execPath, '..', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error('node-gyp was not found; run this through npm (npm run build) so that npm provides it.');
  return found;
}

/** MSVC's lib.exe, found with vswhere (installed with every Visual Studio since 2017). */
function findLibExe() {
  const vswhere = join(process.env['ProgramFiles(x86)'] ?? 'C:\\Program Files (x86)', 'Microsoft Visual Studio', 'Installer', 'vswhere.exe');
  const help = 'Install Visual Studio (or its Build Tools) with "Desktop development with C++".';
  if (!existsSync(vswhere)) throw new Error(`Visual Studio was not found (${vswhere} is missing). ${help}`);
  const host = process.arch === 'arm64' ? 'Hostarm64\\arm64' : 'Hostx64\\x64';
  const found = execFileSync(vswhere, ['-latest', '-products', '*', '-find', `VC\\Tools\\MSVC\\**\\bin\\${host}\\lib.exe`], { encoding: 'utf8' })
    .split(/\r?\n/).filter((line) => line.trim() !== '').sort();
  if (found.length === 0) throw new Error(`Visual Studio has no C++ tools (lib.exe for ${host}). ${help}`);
  return found.at(-1).trim();
}

/**
 * MSVC links against import libraries, which node-llama-cpp's Windows package does not ship:
 * each is made from its DLL's export table (.def, see dll-exports.js) with lib.exe.
 */
function windowsImportLibraries(binsDir, dlls) {
  const outDir = join(repoRoot, '.cache', 'import-libs', `${process.platform}-${process.arch}`);
  mkdirSync(outDir, { recursive: true });
  const libExe = findLibExe();
  for (const dll of dlls) {
    const stem = dll.replace(/\.dll$/i, '');
    const def = join(outDir, `${stem}.def`);
    const machine = writeDefFile(join(binsDir, dll), def);
    execFileSync(libExe, ['/nologo', `/def:${def}`, `/machine:${machine}`, `/out:${join(outDir, `${stem}.lib`)}`], { stdio: 'inherit' });
  }
  return outDir;
}

function main() {
  rmSync(failureFile, { force: true });
  const { binsDir, libraries } = linkInputs();
  const llamaSrc = ensureLlamaSource();
  const linked = [libraries.ggmlBase, libraries.ggml, libraries.llama];
  const rpath = relative(releaseDir, binsDir).split('\\').join('/');
  const args = [nodeGypPath(), 'rebuild', '--jobs', '2'];
  const nodedir = process.env.npm_config_nodedir ?? (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const windows = process.platform === 'win32';
  const [ggmlBase, ggml, llama] = windows ? linked.map((dll) => dll.replace(/\.dll$/i, '.lib')) : linked;
  args.push('--', `-Dllama_src=${llamaSrc}`, `-Dbins_dir=${binsDir}`, `-Dbins_rpath=${rpath}`,
    `-Dggml_base_lib=${ggmlBase}`, `-Dggml_lib=${ggml}`, `-Dllama_lib=${llama}`);
  if (windows) args.push(`-Dimport_libs_dir=${windowsImportLibraries(binsDir, linked)}`);
  try {
    execFileSync(process.execPath, args, { cwd: nativeDir, stdio: 'inherit' });
  } catch (error) {
    const toolchain = process.platform === 'win32' ? 'Visual Studio Build Tools with "Desktop development with C++"'
      : process.platform === 'darwin' ? 'the Xcode Command Line Tools (xcode-select --install)' : 'a C++17 compiler and make (e.g. build-essential)';
    const exit = error.status !== null && error.status !== undefined ? `code ${error.status}` : error.signal ?? 'an error';
    throw new Error(`The C++ build of the trainer failed (node-gyp exited with ${exit}; its messages are in the npm install output). Install ${toolchain} and Python 3, then run "npm run build".`);
  }
  const addon = join(releaseDir, 'paramkb_trainer.node');
  if (!existsSync(addon)) throw new Error(`node-gyp finished but ${addon} is missing.`);
  // Windows has no rpath: a DLL's dependencies are looked up beside it first (Node loads addons
  // with LOAD_WITH_ALTERED_SEARCH_PATH). A DLL already loaded under the same name (node-llama-cpp's
  // copy) is reused, so the process still has one ggml.
  if (windows) for (const dll of linked) copyFileSync(join(binsDir, dll), join(releaseDir, dll));
}

if (process.argv[1] && process.argv[1].endsWith('build-native.js')) {
  try {
    main();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error(`build-native: ${reason}`);
    // No half state: a stale addon from an earlier build would hide the reason.
    rmSync(join(releaseDir, 'paramkb_trainer.node'), { force: true });
    mkdirSync(join(nativeDir, 'build'), { recursive: true });
    writeFileSync(failureFile, `${reason}\n`);
    process.exit(1);
  }
}
