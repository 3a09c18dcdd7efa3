import { randomBytes } from 'node:crypto';

/** A new pod or container ID: 64 hex characters, like CRI-O's. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}
