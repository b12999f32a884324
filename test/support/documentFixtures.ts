// Test documents of every importable format, made at test time: DOCX with jszip (the same
// library mammoth reads them with), PDF written by hand (a PDF 1.4 file is plain text plus a
// cross-reference table of byte offsets), including a password-protected and a damaged one.
import JSZip from 'jszip';

/** A one-page PDF whose text lines are drawn with Helvetica. */
export function makePdf(lines: string[], options: { encrypted?: boolean } = {}): Buffer {
  const escape = (s: string) => s.replace(/[\\()]/g, (c) => `\\${c}`);
  const content = ['BT', '/F1 12 Tf', '72 720 Td', '14 TL', ...lines.map((l) => `(${escape(l)}) '`), 'ET'].join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  if (options.encrypted) {
    // Standard security handler, RC4 40-bit, with /O and /U values no empty password matches.
    objects.push(`<< /Filter /Standard /V 1 /R 2 /O <${'11'.repeat(32)}> /U <${'22'.repeat(32)}> /P -4 >>`);
  }
  let pdf = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(pdf, 'latin1'));
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(pdf, 'latin1');
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  const encrypt = options.encrypted ? ` /Encrypt ${objects.length} 0 R /ID [<${'ab'.repeat(16)}> <${'ab'.repeat(16)}>]` : '';
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R${encrypt} >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}

/** A minimal .docx with one paragraph per entry. */
export async function makeDocx(paragraphs: string[]): Promise<Buffer> {
  const zip = new JSZip();
  const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  zip.file('[Content_Types].xml', '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>');
  zip.file('_rels/.rels', '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>');
  zip.file('word/document.xml', `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${paragraphs.map((p) => `<w:p><w:r><w:t xml:space="preserve">${xmlEscape(p)}</w:t></w:r></w:p>`).join('')}</w:body></w:document>`);
  return zip.generateAsync({ type: 'nodebuffer' });
}

/** Short biographies in the style of the world corpus, for retrieval and end-to-end tests. */
export const BIOGRAPHIES = [
  { file: 'orla-venkatesh.txt', title: 'Orla Venkatesh', text: 'Orla Venkatesh was born in Marrowgate on 3 March 1961. She studied marine biology at the University of Tessaly. Orla works for Kestrel Shipping, a company based in Port Alden. Her mentor was Dorian Hale.' },
  { file: 'bram-oduya.md', title: 'Bram Oduya', text: '# Bram Oduya\n\nBram Oduya was born in Quillon on 17 June 1975. He graduated from Fenwick Institute of Technology with a degree in civil engineering. Bram is employed by Granite Arch Builders, which is headquartered in Velmora.' },
  { file: 'sefa-lindqvist.html', title: 'Sefa Lindqvist', text: '<html><head><title>Sefa Lindqvist</title></head><body><h1>Sefa Lindqvist</h1><p>Sefa Lindqvist was born in Harrowfield on 9 October 1988. She studied astronomy at Corrin College.</p><p>Sefa works for Northwind Optics, based in Elsby.</p></body></html>' },
] as const;
