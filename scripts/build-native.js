// Builds the native LoRA trainer (native/) with node-gyp: C++ sources compiled against the ggml
// headers of node-llama-cpp's bundled llama.cpp and linked to node-llama-cpp's prebuilt shared
// libraries for this platform, so one ggml version serves training and inference. No network:
// node-gyp uses the local Node headers (npm's nodedir) and everything else is in node_modules.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { ensureLlamaSource, repoRoot } from './llama-source.js';

const require = createRequire(import.meta.url);
const nativeDir = join(repoRoot, 'native');

/** The folder of node-llama-cpp's prebuilt CPU binaries for this platform, or an error. */
export function prebuiltBinsDir() {
  const id = `${process.platform}-${process.arch}`;
  const dir = join(repoRoot, 'node_modules', '@node-llama-cpp', id, 'bins', id);
  const base = process.platform === 'win32' ? 'ggml-base.dll' : process.platform === 'darwin' ? 'libggml-base.dylib' : 'libggml-base.so';
  if (!existsSync(join(dir, base))) {
    throw new Error(
      `No prebuilt node-llama-cpp binary fits this machine (${id}): ${join(dir, base)} is missing. ` +
        `The trainer links node-llama-cpp's prebuilt ggml; install the @node-llama-cpp/${id} package (npm install on a supported platform).`,
    );
  }
  if (process.platform === 'linux' && !readdirSync(dir).some((f) => f.startsWith('libggml-cpu-'))) {
    throw new Error(`${dir} has no libggml-cpu-*.so backend; reinstall node-llama-cpp.`);
  }
  return dir;
}

function nodeGypPath() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const candidates = [join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error('node-gyp was not found; run this through npm (npm run build) so that npm provides it.');
  return found;
}

function main() {
  const binsDir = prebuiltBinsDir();
  const llamaSrc = ensureLlamaSource();
  const rpath = relative(join(nativeDir, 'build', 'Release'), binsDir).split('\\').join('/');
  const args = [nodeGypPath(), 'rebuild', '--jobs', '2'];
  const nodedir = process.env.npm_config_nodedir ?? (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  args.push('--', `-Dllama_src=${llamaSrc}`, `-Dbins_dir=${binsDir}`, `-Dbins_rpath=${rpath}`);
  execFileSync(process.execPath, args, { cwd: nativeDir, stdio: 'inherit' });
  const addon = join(nativeDir, 'build', 'Release', 'paramkb_trainer.node');
  if (!existsSync(addon)) throw new Error(`node-gyp finished but ${addon} is missing.`);
}

if (process.argv[1] && process.argv[1].endsWith('build-native.js')) {
  try {
    main();
  } catch (error) {
    console.error(`build-native: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
