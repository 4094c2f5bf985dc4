/**
 * @module identity/sealing
 * Authenticated encryption (AES-256-GCM) for the one secret ACR's API must be able to show again:
 * the admin user's passwords (`listCredentials`). Verification never uses the sealed copy; it
 * uses the salted hash like every other secret. The key lives in `<data>/keys/seal.key` (0600).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class Sealer {
  private constructor(private readonly key: Buffer) {}

  static async open(directory: string): Promise<Sealer> {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const path = join(directory, 'seal.key');
    try {
      return new Sealer(Buffer.from(await readFile(path, 'utf8'), 'base64'));
    } catch {
      const key = randomBytes(32);
      await writeFile(path, key.toString('base64'), { mode: 0o600, flag: 'wx' }).catch(
        () => undefined,
      );
      return new Sealer(Buffer.from(await readFile(path, 'utf8'), 'base64'));
    }
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64')).join('.');
  }

  unseal(sealed: string): string {
    const [iv, tag, body] = sealed.split('.').map((part) => Buffer.from(part, 'base64'));
    if (!iv || !tag || !body) throw new Error('malformed sealed value');
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  }
}
