// Turns file bytes into plain text with well-kept parsers: pdfjs-dist for PDF, mammoth for
// DOCX, html-to-text for HTML. Every failure becomes an ImportFileError with a stable code and
// a sentence the user can act on; the import of other files goes on.
import { extname } from 'node:path';
import chardet from 'chardet';
import iconv from 'iconv-lite';
import { ParamKbError } from '../../shared/errors.js';

export type DocumentFormat = 'txt' | 'md' | 'html' | 'pdf' | 'docx';

const FORMAT_BY_EXTENSION: Record<string, DocumentFormat> = {
  '.txt': 'txt', '.text': 'txt', '.md': 'md', '.markdown': 'md', '.html': 'html', '.htm': 'html', '.pdf': 'pdf', '.docx': 'docx',
};

export const SUPPORTED_EXTENSIONS = Object.keys(FORMAT_BY_EXTENSION);

export type ImportFailureCode = 'unsupported' | 'too-large' | 'empty' | 'binary' | 'encrypted' | 'corrupt' | 'unreadable';

export class ImportFileError extends ParamKbError {
  override name = 'ImportFileError';
  constructor(code: ImportFailureCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface ExtractedText {
  /** A title found in the file (HTML <title>, first Markdown heading, PDF metadata), if any. */
  title: string | null;
  text: string;
}

export function formatOf(fileName: string): DocumentFormat | null {
  return FORMAT_BY_EXTENSION[extname(fileName).toLowerCase()] ?? null;
}

/** Why a file of this name cannot be imported. */
export function unsupportedFormatReason(fileName: string): string {
  return `${extname(fileName) || 'Files without an extension'} is not supported; import ${SUPPORTED_EXTENSIONS.join(', ')} files.`;
}

/** The format of a file name, or an 'unsupported' ImportFileError. */
export function supportedFormatOf(fileName: string): DocumentFormat {
  const format = formatOf(fileName);
  if (!format) throw new ImportFileError('unsupported', unsupportedFormatReason(fileName));
  return format;
}

export async function extractText(fileName: string, bytes: Uint8Array): Promise<ExtractedText> {
  const format = supportedFormatOf(fileName);
  let extracted: ExtractedText;
  switch (format) {
    case 'txt': extracted = { title: null, text: decodeText(bytes) }; break;
    case 'md': extracted = extractMarkdown(decodeText(bytes)); break;
    case 'html': extracted = await extractHtml(decodeText(bytes)); break;
    case 'pdf': extracted = await extractPdf(bytes); break;
    case 'docx': extracted = await extractDocx(bytes); break;
  }
  const text = normalizeWhitespace(extracted.text);
  if (!text) throw new ImportFileError('empty', 'The file has no text to import (it is empty, or a scanned PDF without a text layer).');
  // Plain text and Word documents carry no title field: their first line is one when it reads as one.
  const title = extracted.title?.trim() || (format === 'txt' || format === 'docx' ? firstLineTitle(text) : null);
  return { title, text };
}

/**
 * The first line of a text when it reads as a title: more text follows it, and it is short
 * (at most 100 characters and 12 words), has a letter, and does not end like a sentence or a
 * lead-in (. , ; :).
 */
function firstLineTitle(text: string): string | null {
  const end = text.indexOf('\n');
  if (end < 0) return null;
  const line = text.slice(0, end).trim();
  if (!text.slice(end + 1).trim() || line.length > 100 || line.split(/\s+/).length > 12) return null;
  if (/[.,;:]$/.test(line) || !/\p{L}/u.test(line)) return null;
  return line;
}

/**
 * Decodes text: UTF-16 with a BOM, UTF-8, else the legacy encoding that chardet detects
 * (Windows-1252 / Latin-1 for most Western text saved by older editors), decoded by iconv-lite
 * (Node's TextDecoder reads windows-1252 as ISO-8859-1), refusing binary data with a clear
 * reason.
 */
function decodeText(bytes: Uint8Array): string {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    return new TextDecoder(bytes[0] === 0xff ? 'utf-16le' : 'utf-16be').decode(bytes);
  }
  const sample = bytes.subarray(0, 65536);
  let control = 0;
  for (const b of sample) {
    if (b === 0) throw new ImportFileError('binary', 'The file looks binary (it contains NUL bytes), not text; check its extension.');
    if (b < 9 || (b > 13 && b < 32)) control++;
  }
  if (sample.length > 0 && control / sample.length > 0.05) throw new ImportFileError('binary', 'The file looks binary, not text; check its extension.');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch { /* not UTF-8: a legacy encoding, or damaged UTF-8 */ }
  let detected = chardet.analyse(bytes.subarray(0, 1 << 20))[0]?.name;
  // Text called Latin-1 is Windows-1252 in practice (as browsers read it): its bytes
  // 0x80-0x9F are € ‘ ’ “ ” – …, never the control codes of ISO-8859-1.
  if (detected === 'ISO-8859-1') detected = 'windows-1252';
  if (detected && detected !== 'UTF-8' && detected !== 'ASCII') {
    if (!iconv.encodingExists(detected)) {
      throw new ImportFileError('binary', `The file's text encoding (${detected}) cannot be read here; save it as UTF-8 and import it again.`);
    }
    return iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), detected);
  }
  // UTF-8 with a few damaged bytes keeps its text; otherwise (chardet is unsure on short
  // texts) the common legacy encoding of Western text, which decodes any byte.
  const text = new TextDecoder('utf-8').decode(bytes);
  const replaced = text.length > 0 ? (text.match(/\uFFFD/g)?.length ?? 0) / text.length : 0;
  return replaced <= 0.01 ? text : iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'windows-1252');
}

function extractMarkdown(source: string): ExtractedText {
  const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/m.exec(source);
  // Headings become their own paragraphs without the # marks, so passages read as prose.
  const text = source.replace(/^#{1,6}\s+(.+?)\s*#*\s*$/gm, '\n$1\n');
  return { title: heading?.[1] ?? null, text };
}

async function extractHtml(source: string): Promise<ExtractedText> {
  const { convert } = await import('html-to-text');
  const titleMatch = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(source);
  const title = titleMatch ? convert(titleMatch[1]!, { wordwrap: false }) : null;
  const text = convert(source, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'head', format: 'skip' },
      { selector: 'script', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'h1', options: { uppercase: false } },
      { selector: 'h2', options: { uppercase: false } },
      { selector: 'h3', options: { uppercase: false } },
      { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false } },
    ],
  });
  return { title, text };
}

async function extractPdf(bytes: Uint8Array): Promise<ExtractedText> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  // pdf.js takes ownership of the buffer it is given; hand it a copy.
  const task = pdfjs.getDocument({ data: new Uint8Array(bytes), isEvalSupported: false, useSystemFonts: false, disableFontFace: true, verbosity: 0 });
  let doc: Awaited<typeof task.promise>;
  try {
    doc = await task.promise;
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'PasswordException') throw new ImportFileError('encrypted', 'The PDF is password-protected; remove the password and import it again.', { cause: error });
    throw new ImportFileError('corrupt', `The PDF cannot be read (${(error as Error).message}); it may be damaged.`, { cause: error });
  }
  try {
    const pages: string[] = [];
    for (let i = 1; i <= doc.numPages; i++) {
      const page = await doc.getPage(i);
      const content = await page.getTextContent();
      let line = '';
      for (const item of content.items) {
        if (!('str' in item)) continue;
        line += item.str;
        if (item.hasEOL) line += '\n';
        else if (item.str && !line.endsWith(' ')) line += ' ';
      }
      pages.push(line);
      page.cleanup();
    }
    const info = (await doc.getMetadata().catch(() => null))?.info as { Title?: unknown } | undefined;
    return { title: typeof info?.Title === 'string' ? info.Title : null, text: pages.join('\n\n') };
  } finally {
    await doc.destroy();
  }
}

async function extractDocx(bytes: Uint8Array): Promise<ExtractedText> {
  const mammoth = await import('mammoth');
  try {
    const result = await mammoth.extractRawText({ buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    return { title: null, text: result.value };
  } catch (error) {
    throw new ImportFileError('corrupt', `The Word document cannot be read (${(error as Error).message}); it may be damaged or not a .docx file.`, { cause: error });
  }
}

/** Collapses runs of spaces, keeps paragraph breaks (used as preferred passage cuts). */
export function normalizeWhitespace(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[\t\f\v\u00a0\u2000-\u200b\u3000]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .replace(/ {2,}/g, ' ')
    .trim();
}
