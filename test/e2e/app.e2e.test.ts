// The whole app in a browser: the headless server with a real Engine and a tiny fixture model,
// driven in Debian's Chromium with playwright-core. Saves a screenshot of each main screen to
// test-output/screenshots/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runServe, type ServeHandle } from '../../electron/node/serve.js';
import { repoRoot } from '../../scripts/llama-source.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

/** Debian's package; PARAMKB_CHROMIUM points elsewhere. */
const CHROMIUM = process.env.PARAMKB_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = join(repoRoot, 'test-output', 'screenshots');

const DOCUMENTS: Record<string, string> = {
  'danube.md': '# The Danube\n\nThe Danube is the second-longest river in Europe. It flows through ten countries, from the Black Forest in Germany to the Black Sea.',
  'castles.txt': 'Bran Castle stands near Brasov in Romania. It is often called Dracula\'s Castle, although Vlad the Impaler probably never lived there.',
  'tea.md': '# Tea\n\nGreen tea is made from leaves that are not oxidized. Black tea leaves are fully oxidized before drying.',
};

let temp: string;
let serve: ServeHandle;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set PARAMKB_CHROMIUM).`);
  temp = mkdtempSync(join(tmpdir(), 'paramkb-e2e-'));
  const rendererDir = join(temp, 'renderer');
  // A private build of the renderer, so the test never races `npm run build` over dist/.
  execFileSync(process.execPath, [join(repoRoot, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'renderer/vite.config.ts',
    '--outDir', rendererDir, '--logLevel', 'warn'], { cwd: repoRoot, stdio: 'inherit' });
  const docs = join(temp, 'docs');
  mkdirSync(docs);
  for (const [name, text] of Object.entries(DOCUMENTS)) writeFileSync(join(docs, name), text);
  mkdirSync(SCREENSHOTS, { recursive: true });

  // No encoder: its worker runs from dist/, and this test runs the sources.
  serve = await runServe({ dataDir: join(temp, 'data'), modelPath: await tinyModelPath(TINY_SPECS.llamaSpm), rendererDir, encoder: false });
  context = await chromium.launchPersistentContext(join(temp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
      '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (error) => { throw error; });
  await page.goto(serve.url);
});

afterAll(async () => {
  await context?.close();
  await serve?.close();
  if (temp) rmSync(temp, { recursive: true, force: true });
});

// A failing step leaves a picture of what the browser showed.
afterEach(async (context) => {
  if (context.task.result?.state === 'fail') await shoot(`failed-${context.task.name.replace(/\W+/g, '-')}`);
});

const nav = (name: string) => page.getByRole('navigation', { name: 'Screens' }).getByRole('button', { name });
const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });

describe('ParamKB in a browser', () => {
  it('starts on an empty chat that says what to do', async () => {
    // Wait for the first render: on a loaded machine the page can still be loading here.
    await page.getByRole('heading', { name: 'Ask your documents' }).waitFor();
    await expect(page.getByRole('heading', { name: 'Ask your documents' }).isVisible()).resolves.toBe(true);
    await page.getByText('Import files or a folder').waitFor();
    await shoot('chat-empty');
  });

  it('imports a folder by path and shows each document with its status', async () => {
    await nav('Knowledge').click();
    await page.getByRole('textbox', { name: 'Path to a file or folder' }).fill(join(temp, 'docs'));
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByRole('status', { name: 'Import result' }).getByText('Added 3').waitFor();
    for (const name of ['danube', 'castles', 'tea']) {
      await page.getByRole('row', { name: new RegExp(name, 'i') }).getByText(/Indexed|Queued|Encoding|Encoded/).waitFor();
    }
  });

  it('pauses and resumes the encoding queue', async () => {
    const queue = page.getByRole('region', { name: 'Encoding queue' });
    await queue.getByText('0 of 3 passages encoded').waitFor();
    await queue.getByRole('button', { name: 'Pause' }).click();
    await queue.getByText('Paused').waitFor();
    await queue.getByRole('button', { name: 'Resume' }).click();
    await queue.getByRole('button', { name: 'Pause' }).waitFor();
  });

  it('uploads a file picked in the browser', async () => {
    await page.getByLabel('Files to import').setInputFiles({
      name: 'ferries.txt', mimeType: 'text/plain', buffer: Buffer.from('The ferry to Bastia leaves Nice every morning at eight.'),
    });
    await page.getByRole('row', { name: /ferries/i }).getByText(/Indexed|Queued|Encoding|Encoded/).waitFor();
  });

  it('searches the knowledge base', async () => {
    await page.getByRole('searchbox', { name: 'Search the knowledge base' }).fill('Danube');
    const results = page.getByRole('list', { name: 'Search results' });
    await results.locator('mark', { hasText: 'Danube' }).first().waitFor();
    await results.getByRole('button').first().click();
    await page.getByRole('dialog').getByText('second-longest river').waitFor();
    await page.getByRole('button', { name: 'Close document' }).click();
    await shoot('knowledge');
  });

  it('streams an answer with its sources, in context mode', async () => {
    await nav('Chat').click();
    await page.getByRole('radio', { name: 'Context' }).click();
    await page.getByRole('textbox', { name: 'Question' }).fill('Where does the Danube flow?');
    await page.keyboard.press('Enter');
    // The answer streams into a busy bubble before it is saved with its sources.
    const streaming = page.locator('article[aria-busy="true"]');
    await streaming.waitFor();
    const sources = page.getByRole('list', { name: 'Sources' });
    await sources.waitFor({ timeout: 60_000 });
    await expect(sources.getByRole('button', { name: /danube/i }).count()).resolves.toBeGreaterThan(0);
    await expect(sources.getByText('context', { exact: true }).count()).resolves.toBeGreaterThan(0);
    const answer = page.getByRole('article', { name: 'Answer' }).last();
    expect((await answer.locator('.message__bubble').innerText()).trim().length).toBeGreaterThan(0);
    await expect(page.getByRole('region', { name: 'Chat history' }).getByRole('button', { name: 'Where does the Danube flow?', exact: true }).count()).resolves.toBe(1);
    await shoot('chat');
  });

  it('switches modes: closed-book answers without sources, parametric explains missing adapters', async () => {
    await page.getByRole('radio', { name: 'Closed book' }).click();
    await page.getByRole('textbox', { name: 'Question' }).fill('Who built Bran Castle?');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => page.getByRole('article', { name: 'Answer' }).count(), { timeout: 60_000 }).toBe(2);
    await page.getByRole('button', { name: 'Send' }).waitFor({ timeout: 60_000 });
    await expect(page.getByRole('list', { name: 'Sources' }).count()).resolves.toBe(1);

    await page.getByRole('radio', { name: 'Parametric' }).click();
    await page.getByRole('textbox', { name: 'Question' }).fill('Where is Bran Castle?');
    await page.keyboard.press('Enter');
    await page.getByText(/has an adapter yet/).waitFor({ timeout: 60_000 });
  });

  it('deletes a document', async () => {
    await nav('Knowledge').click();
    const row = page.getByRole('row', { name: /^tea$/i });
    await row.getByRole('button', { name: /^Delete / }).click();
    await row.getByRole('button', { name: /^Confirm: Delete / }).click();
    await expect.poll(() => page.getByRole('row', { name: /^tea$/i }).count()).toBe(0);
    await expect(page.getByRole('row').count()).resolves.toBe(4); // header + 3 documents
  });

  it('opens a document of thousands of passages at the one a search found, rendering only those in view', async () => {
    // 3,000 paragraphs of 100+ words: one passage each.
    const paragraphs = Array.from({ length: 3000 }, (_, i) => `Entry marker${i} of the ship's log. ${'The crew checked the sails, the ropes and the lanterns before night fell. '.repeat(8)}`);
    await page.getByLabel('Files to import').setInputFiles({ name: 'log.txt', mimeType: 'text/plain', buffer: Buffer.from(paragraphs.join('\n\n')) });
    await page.getByRole('row', { name: /^log/i }).waitFor({ timeout: 60_000 });
    // So many new passages: the app says what encoding them costs and asks what to encode.
    const choice = page.getByRole('region', { name: 'Encode the new passages?' });
    await choice.getByText(/Encode 3,000 new passages\?/).waitFor();
    await choice.getByText(/a rough guess for a model of this size/).waitFor();
    await shoot('encoding-choice');
    await choice.getByRole('button', { name: 'Encode on demand' }).click();
    // Only the passage a question asked for stays queued; the log waits for questions.
    await page.getByRole('region', { name: 'Encoding queue' }).getByText('0 of 1 passages encoded').waitFor();
    await page.getByRole('row', { name: /^log/i }).getByText('Indexed').waitFor();
    await page.getByRole('searchbox', { name: 'Search the knowledge base' }).fill('marker2500');
    await page.getByRole('list', { name: 'Search results' }).getByRole('button').first().click();
    const drawer = page.getByRole('dialog', { name: 'log' });
    const highlighted = drawer.locator('li.passage--highlight');
    await highlighted.getByText('marker2500').waitFor();
    expect(await drawer.getByRole('listitem').count()).toBeLessThan(60);
    // Scrolled to it: the highlighted passage lies within the list's view.
    const view = (await drawer.locator('.passages').boundingBox())!;
    const box = (await highlighted.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(view.y - 1);
    expect(box.y + box.height).toBeLessThanOrEqual(view.y + view.height + 1);
    await shoot('document-drawer');
    await page.getByRole('button', { name: 'Close document' }).click();
  });

  it('shows the model and the settings', async () => {
    await nav('Models').click();
    await page.getByRole('region', { name: 'Current model' }).getByText('llama').first().waitFor();
    await page.getByRole('textbox', { name: 'Path to a GGUF model file' }).fill(join(temp, 'docs', 'tea.md'));
    await page.getByRole('button', { name: 'Open model' }).click();
    await page.getByRole('region', { name: 'Open a model file' }).getByRole('alert').waitFor({ timeout: 60_000 });
    await shoot('models');

    await nav('Settings').click();
    await page.getByRole('spinbutton', { name: 'Passages per question (top-k)' }).fill('4');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    await expect(page.getByLabel('Data folder').innerText()).resolves.toBe(join(temp, 'data'));
    await shoot('settings');

    await page.getByRole('radio', { name: 'Dark' }).click();
    await expect.poll(() => page.locator('html').getAttribute('data-theme')).toBe('dark');
    await nav('Chat').click();
    await shoot('chat-dark');
  });
});
