import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.ts';

export interface TlsFiles {
  cert: string;
  key: string;
}

/**
 * Without TLS_CERT/TLS_KEY a self-signed development certificate for localhost is created once
 * under DATA_DIR/tls. Only the primary calls this, so workers never race to write it.
 */
export async function ensureDevCertificate(dataDir: string, log: Logger): Promise<TlsFiles> {
  const dir = path.join(dataDir, 'tls');
  const files = { cert: path.join(dir, 'dev-cert.pem'), key: path.join(dir, 'dev-key.pem') };
  if (existsSync(files.cert) && existsSync(files.key)) return files;

  const { generate } = await import('selfsigned');
  const notAfterDate = new Date();
  notAfterDate.setFullYear(notAfterDate.getFullYear() + 1);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  await mkdir(dir, { recursive: true });
  await writeFile(files.key, pems.private, { mode: 0o600 });
  await writeFile(files.cert, pems.cert, { mode: 0o644 });
  log.warn(
    { cert: files.cert },
    'created a self-signed development certificate; set TLS_CERT/TLS_KEY in production',
  );
  return files;
}
